"""Odd input is a 4xx with a message, never a 500, on every API write and every admin form.

The odd inputs a security review found to break Keystay: a host in invalid punycode
(`https://xn--a.com/`: httpx raises when it decodes it), a JSON body nested thousands of
levels deep (Python's json raises RecursionError), an XLSX whose inner XML is malformed,
and a Unicode digit that `isdigit()` accepts but `int()` refuses (`²`).

The API routes come from the URL resolver (as in tests/api/test_every_method.py) and the
admin forms from the admin registry (as in tests/core/test_admin_pages.py), so a route or
a form added later is covered without being listed here.
"""

from __future__ import annotations

import itertools

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from guests.models import MessageTemplate
from locks.gateway import ProviderError, SeamGateway
from tests.api.conftest import key_client
from tests.api.test_every_method import api_routes, concrete, resource_ids
from tests.core.test_admin_pages import REGISTERED, build
from tests.factories import UserFactory
from tests.hooks.factories import webhook_endpoint
from tests.listing_files import workbook_with_sheet

pytestmark = pytest.mark.django_db

BAD_PUNYCODE = "https://xn--a.com/"
SUPERSCRIPT_TWO = "²"  # "²".isdigit() is True; int("²") raises ValueError
DEEP_JSON = "[" * 5_000 + "]" * 5_000
URL_FIELDS = ("url", "endpoint")
# Every odd value a field of a form or body may be sent.
ODD_VALUES = (BAD_PUNYCODE, SUPERSCRIPT_TWO, "١٢")  # Arabic-Indic digits: isdigit, int() reads
WRITES = ("post", "put", "patch")
# Fields whose odd value must come back as that field's own message.
FIELD_MESSAGE_EXPECTED = {"url", "endpoint", "prearrival_check_hours", "send_hours_before"}


def odd_values_for(field: str) -> tuple[str, ...]:
    if field in URL_FIELDS:
        return (BAD_PUNYCODE,)
    if field in FIELD_MESSAGE_EXPECTED:
        return (SUPERSCRIPT_TWO, "١٢")  # "١٢" is 12 to int(): valid or a range message
    return (SUPERSCRIPT_TWO,)


@pytest.fixture
def offline(monkeypatch):
    """No request leaves the machine: Seam refuses every key."""

    def refused(self, **kwargs):
        raise ProviderError("unauthorized", "Seam refused the API key.")

    monkeypatch.setattr(SeamGateway, "__init__", refused)


@pytest.fixture
def manager_key(org_a, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/minute"},
    }
    client = key_client(org_a.organization, "manager")
    client.raise_request_exception = False  # a server error is an answer to collect
    return client


def write_urls(org_a, org_b) -> list[str]:
    """Every API URL that takes a write, with the caller's own object's id where one goes."""
    urls = []
    for route in api_routes():
        if "<format>" in route:
            continue  # the same views as the routes without a suffix
        ids = resource_ids(route, org_a, org_b)[:1] if "<pk>" in route else ["-"]
        external = "EXT-1" if "external_id" in route else "-"
        urls.extend(concrete(route, pk=pk, external_id=external) for pk in ids)
    return urls


# ------------------------------------------------------------------------------ the API


def test_a_json_body_nested_thousands_deep_is_a_400_on_every_api_write(
    org_a, org_b, offline, manager_key
):
    webhook_endpoint(org_a)
    failures, parsed = [], 0
    for url, method in itertools.product(write_urls(org_a, org_b), WRITES):
        response = getattr(manager_key, method)(url, DEEP_JSON, content_type="application/json")
        if response.status_code >= 500:
            failures.append(f"{method.upper()} {url}: {response.status_code}")
        elif response.status_code == 400 and "nested too deeply" in response.content.decode():
            parsed += 1
    assert not failures, "\n".join(failures)
    assert parsed > 10  # the routes that read a body said why they refused it


def test_odd_values_in_every_field_of_every_api_write_are_never_a_500(
    org_a, org_b, offline, manager_key
):
    webhook_endpoint(org_a)
    fields = [
        "url",
        "endpoint",
        "prearrival_check_hours",
        "code_length",
        "code_lead_time_minutes",
        "buffer_before_minutes",
        "send_hours_before",
        "organization",
        "property",
        "listing",
        "device",
        "name",
        "address",
        "time_zone",
        "check_in",
        "check_out",
        "lead_time_minutes",
        "events",
        "api_key",
    ]
    failures = []
    for url, method, value in itertools.product(write_urls(org_a, org_b), WRITES, ODD_VALUES):
        body = dict.fromkeys(fields, value)
        response = getattr(manager_key, method)(url, body, format="json")
        if response.status_code >= 500:
            failures.append(f"{method.upper()} {url} {value!r}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_invalid_punycode_hosts_are_field_messages_in_the_api(org_a, offline, manager_key):
    endpoint = webhook_endpoint(org_a)
    answers = {
        "POST webhook": manager_key.post(
            "/api/v1/webhook-endpoints/",
            {"url": BAD_PUNYCODE, "events": ["code.generated"]},
            format="json",
        ),
        "PATCH webhook": manager_key.patch(
            f"/api/v1/webhook-endpoints/{endpoint.pk}/", {"url": BAD_PUNYCODE}, format="json"
        ),
        "POST connection": manager_key.post(
            "/api/v1/connections/",
            {"api_key": "seam_test", "endpoint": BAD_PUNYCODE},
            format="json",
        ),
    }
    for what, response in answers.items():
        assert response.status_code == 400, (what, response.content)
        body = response.json()
        field = "endpoint" if "connection" in what else "url"
        assert body[field], (what, body)


def test_a_unicode_digit_in_prearrival_hours_is_a_field_message_in_the_api(org_a, manager_key):
    for value in (SUPERSCRIPT_TWO, "24, ²", "1" * 5_000):
        response = manager_key.patch(
            f"/api/v1/listings/{org_a.listing.pk}/",
            {"prearrival_check_hours": value},
            format="json",
        )
        assert response.status_code == 400, (value, response.content)
        assert response.json()["prearrival_check_hours"]


# ------------------------------------------------------------------------ the admin


def form_data(response) -> dict:
    """What the admin's add or change form would post as it is shown (inlines left out)."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        if value is True:
            data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = str(value)
    for inline in response.context.get("inline_admin_formsets") or []:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def admin_forms(org):
    """(label, url) of every admin add and change form of the organization's objects."""
    for label, model_admin in REGISTERED:
        model = model_admin.model
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield label, reverse(f"{name}_add")
        yield label, reverse(f"{name}_change", args=[build(label, org).pk])


def test_odd_values_in_every_field_of_every_admin_form_are_never_a_500(client, org_a, offline):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    client.raise_request_exception = False
    failures, checked = [], 0
    for label, url in admin_forms(org_a):
        page = client.get(url)
        if page.status_code != 200 or "adminform" not in (page.context or {}):
            continue
        base = form_data(page)
        form = page.context["adminform"].form
        for field in form.fields:
            for value in odd_values_for(field):
                response = client.post(url, {**base, field: value})
                checked += 1
                if response.status_code >= 500:
                    failures.append(f"{label} {url} {field}={value!r}: {response.status_code}")
                elif field in FIELD_MESSAGE_EXPECTED and value != "١٢":
                    errors = response.context["adminform"].form.errors
                    if field not in errors:
                        failures.append(f"{label} {url} {field}={value!r}: no field message")
    assert not failures, "\n".join(failures)
    assert checked > 50


def test_invalid_punycode_endpoint_on_the_smart_devices_page_is_a_field_message(
    client, org_a, offline
):
    client.force_login(org_a.manager)
    response = client.post(
        reverse("smart_devices:add"),
        {
            "organization": org_a.organization.pk,
            "name": "Odd",
            "api_key": "seam_test",
            "endpoint": BAD_PUNYCODE,
        },
    )
    assert response.status_code == 200
    assert response.context["add_form"].errors["endpoint"]


def test_a_unicode_digit_in_the_template_preview_is_a_404_not_a_500(client, org_a):
    template = MessageTemplate.objects.create(
        organization=org_a.organization, subject="Codes", body="{doors}"
    )
    client.force_login(org_a.manager)
    url = reverse("admin:guests_messagetemplate_preview", args=[template.pk])
    for value in (SUPERSCRIPT_TWO, "١٢", "9" * 40):
        assert client.get(url, {"reservation": value}).status_code == 404


# ----------------------------------------------------------------- the listing import


ODD_FILES = {
    "unclosed.xlsx": workbook_with_sheet(b"<worksheet><sheetData><row><c><v>1</v></row>"),
    "binary.xlsx": workbook_with_sheet(b"\x00\xff not xml at all"),
    "odd-cells.xlsx": workbook_with_sheet(
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="x"><c r="??" t="n"><v>abc</v></c></row></sheetData></worksheet>'
    ),
    "deep.json": ('[{"name": ' + DEEP_JSON + "}]").encode(),
    "deep-root.json": DEEP_JSON.encode(),
}


@pytest.mark.parametrize("name", list(ODD_FILES))
def test_an_unreadable_import_file_is_a_file_problem_in_the_api_and_the_admin(client, org_a, name):
    data = ODD_FILES[name]
    api = APIClient()
    api.force_login(org_a.manager)
    response = api.post(
        "/api/v1/listings/import/",
        {"file": SimpleUploadedFile(name, data)},
        format="multipart",
    )
    assert response.status_code == 400
    (problem,) = response.json()["errors"]
    assert "could not be read as" in problem["message"]

    client.force_login(org_a.manager)
    page = client.post(
        reverse("admin:properties_listing_import"),
        {"import_file": SimpleUploadedFile(name, data), "format": name.rsplit(".", 1)[1]},
    )
    assert page.status_code == 200
    assert any("could not be read as" in str(p) for p in page.context["problems"])


def test_admin_registry_is_what_the_form_walk_covers():
    # The walk above reads the admin registry: a model added there is walked too.
    assert {label for label, _ in REGISTERED} >= {
        "properties.Listing",
        "hooks.WebhookEndpoint",
        "guests.MessageTemplate",
    }
    assert len(admin.site._registry) == len(REGISTERED)
