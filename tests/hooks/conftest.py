import pytest

from .receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def local_receivers_allowed(settings):
    """The deployment lets Keystay call plain HTTP on this machine: the tests' receiver."""
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
