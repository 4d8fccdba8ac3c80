"""The listing import and export pages say what they are in the browser's tab (they said
" | Keystay", with nothing before it)."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _title(response) -> str:
    return re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)[1].strip()


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("admin:properties_listing_export", "Export listings | Keystay"),
        ("admin:properties_listing_import", "Import listings | Keystay"),
    ],
)
def test_the_page_title_names_the_page(manager_client, name, title):
    response = manager_client.get(reverse(name))
    assert response.status_code == 200
    assert _title(response) == title


def test_the_title_stays_after_a_post(manager_client):
    response = manager_client.post(reverse("admin:properties_listing_export"), {"format": "?"})
    assert _title(response) == "Export listings | Keystay"
