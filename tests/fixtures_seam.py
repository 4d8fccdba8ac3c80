"""Pytest fixtures for Seam's fake API.

Loaded by tests/conftest.py with ``pytest_plugins = ["tests.fixtures_seam"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from seam import Seam

from locks.seam_transport import make_seam_client
from tests.seam_fake import FakeSeam, start_fake_seam


@pytest.fixture(scope="session")
def fake_seam_server() -> Iterator[FakeSeam]:
    """One fake per test run: it starts in about half a second, state is reset per test."""
    fake = start_fake_seam()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_seam(fake_seam_server: FakeSeam, settings) -> FakeSeam:
    """The fake, on a loopback port chosen at its start: Keystay may call it in this test
    (SEAM_ALLOWED_ENDPOINTS), as an operator would allow their own server."""
    settings.SEAM_ALLOWED_ENDPOINTS = [*settings.SEAM_ALLOWED_ENDPOINTS, fake_seam_server.url]
    return fake_seam_server


@pytest.fixture
def seam_client(fake_seam: FakeSeam) -> Iterator[Seam]:
    """The real SDK client, as Keystay builds it, against a freshly reset fake."""
    fake_seam.reset()
    client = make_seam_client(api_key=fake_seam.api_key, endpoint=fake_seam.url)
    try:
        yield client
    finally:
        client.client.close()
