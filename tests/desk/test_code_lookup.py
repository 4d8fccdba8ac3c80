"""Finding a stay by its exact door code: a keyed hash beside every code, exact matches
only, members of the organization only, a limit per person, every lookup recorded."""

import importlib

import pytest
from django.apps import apps
from django.test import override_settings
from django.utils import timezone

from core.crypto import code_digest
from desk.models import CodeLookup
from locks.models import UnmanagedCode
from reservations import services
from reservations.models import AccessOverride, LockAccess, ReservationCode

from .conftest import book

pytestmark = pytest.mark.django_db
SEARCH = "/admin/desk/search/"


def matches(response) -> str:
    html = response.content.decode()
    start = html.find('id="code-matches"')
    return html[start : html.find("</section>", start)] if start >= 0 else ""


def test_every_code_write_keeps_its_keyed_hash_in_step(org_a):
    stay = book(org_a)
    code = stay.code.value
    assert stay.code.code_digest == code_digest(code) != code
    access = stay.lock_accesses.get()
    assert access.code_digest == code_digest(code)
    # A rotation rewrites the lock's code through a save limited to the plan's fields.
    new = services.code_rotate(reservation=stay)
    access.refresh_from_db()
    assert ReservationCode.objects.get(reservation=stay).code_digest == code_digest(new)
    assert access.code_digest == code_digest(new) != code_digest(code)
    # The keyed hash is not a plain hash of the digits.
    import hashlib

    assert access.code_digest != hashlib.sha256(new.encode()).hexdigest()


def test_staff_find_the_stay_and_door_that_hold_an_exact_code(org_a, staff_client):
    stay = book(org_a)
    code = stay.code.value
    response = staff_client.get(SEARCH, {"q": code})
    assert response.status_code == 200
    found = matches(response)
    assert stay.guest_name in found and org_a.device.name in found


def test_only_exact_codes_match(org_a, staff_client):
    code = book(org_a).code.value
    for near in (code[:-1], code[1:], code + "1", code[:4]):
        response = staff_client.get(SEARCH, {"q": near})
        assert "Maria Silva" not in matches(response), near


def test_a_stranger_finds_nothing_by_code_or_by_name(org_a, org_b, client):
    code = book(org_a).code.value
    client.force_login(org_b.staff)
    response = client.get(SEARCH, {"q": code})
    assert "Maria Silva" not in response.content.decode()
    assert "holds exactly this code" in matches(response)
    response = client.get(SEARCH, {"q": "Maria"})
    assert "Maria Silva" not in response.content.decode()
    # Recorded in the stranger's organization, with nothing found; none in org A.
    assert not CodeLookup.objects.filter(organization=org_a.organization).exists()
    assert CodeLookup.objects.get(organization=org_b.organization).found_count == 0


def test_a_superuser_outside_the_organization_cannot_look_codes_up(org_a, client):
    from tests.factories import UserFactory

    code = book(org_a).code.value
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    assert matches(client.get(SEARCH, {"q": code})) == ""
    assert not CodeLookup.objects.exists()


def test_every_lookup_is_recorded_without_the_code(org_a, staff_client):
    stay = book(org_a)
    code = stay.code.value
    staff_client.get(SEARCH, {"q": code})
    record = CodeLookup.objects.get()
    assert record.user == org_a.staff and record.organization == org_a.organization
    assert record.found_count == 1 and record.found[0]["reservation"] == stay.pk
    assert record.code_digest == code_digest(code)
    assert code not in str(record.found) and code not in record.code_digest
    assert (timezone.now() - record.at).total_seconds() < 60


@override_settings(CODE_LOOKUP_RATE="3/minute")
def test_code_lookups_are_limited_per_person(org_a, staff_client, client):
    code = book(org_a).code.value
    for _ in range(3):
        assert staff_client.get(SEARCH, {"q": code}).status_code == 200
    refused = staff_client.get(SEARCH, {"q": code})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many code lookups" in matches(refused) and "Maria Silva" not in matches(refused)
    assert CodeLookup.objects.filter(refused=True).count() == 1
    # Names are still found; and another person has their own allowance.
    assert "Maria Silva" in staff_client.get(SEARCH, {"q": "maria"}).content.decode()
    client.force_login(org_a.manager)
    assert client.get(SEARCH, {"q": code}).status_code == 200


def test_override_backup_and_unmanaged_codes_are_found(org_a, staff_client):
    stay = book(org_a)
    services.override_set(reservation=stay, assignment=org_a.assignment, code="583927")
    access = stay.lock_accesses.get()
    access.backup_code = "739184"
    access.save(update_fields=["backup_code_ciphertext"])
    now = timezone.now()
    cleaner = UnmanagedCode(
        organization=org_a.organization,
        device=org_a.device,
        provider_id="ac_cleaner",
        name="Cleaner Ana",
        first_seen_at=now,
        last_seen_at=now,
    )
    cleaner.code = "462819"
    cleaner.save()
    assert "Maria Silva" in matches(staff_client.get(SEARCH, {"q": "583927"}))
    assert "backup code" in matches(staff_client.get(SEARCH, {"q": "739184"}))
    assert "Cleaner Ana" in matches(staff_client.get(SEARCH, {"q": "462819"}))


def test_the_data_migrations_fill_the_digests_of_existing_rows(org_a):
    stay = book(org_a)
    services.override_set(reservation=stay, assignment=org_a.assignment, code="583927")
    now = timezone.now()
    cleaner = UnmanagedCode(
        organization=org_a.organization,
        device=org_a.device,
        provider_id="ac_cleaner",
        first_seen_at=now,
        last_seen_at=now,
    )
    cleaner.code = "462819"
    cleaner.save()
    # Rows written before the digests existed.
    for model in (ReservationCode, LockAccess, AccessOverride, UnmanagedCode):
        model.objects.update(code_digest="")
    type(stay).objects.update(search_text="")
    reservations = importlib.import_module("reservations.migrations.0017_code_lookup_digests")
    locks = importlib.import_module("locks.migrations.0010_unmanaged_code_lookup_digest")
    search = importlib.import_module("reservations.migrations.0018_guest_search_text_and_index")
    reservations.fill(apps, None)
    locks.fill(apps, None)
    search.fill(apps, None)
    code = stay.code.value
    assert ReservationCode.objects.get().code_digest == code_digest(code)
    assert LockAccess.objects.get().code_digest == code_digest("583927")
    assert AccessOverride.objects.get().code_digest == code_digest("583927")
    assert UnmanagedCode.objects.get().code_digest == code_digest("462819")
    stay.refresh_from_db()
    assert "maria silva" in stay.search_text and "351912345678" in stay.search_text


def test_the_fill_reads_in_batches(org_a):
    from core.crypto import fill_code_digests

    for n in range(5):
        book(org_a, days_ahead=3 * n + 10)
    ReservationCode.objects.update(code_digest="")
    assert fill_code_digests(ReservationCode, {"code_ciphertext": "code_digest"}, batch=2) == 5
    assert not ReservationCode.objects.filter(code_digest="").exists()


def test_a_new_lookup_key_is_applied_by_the_refill_command(org_a, staff_client, settings):
    from django.core.management import call_command

    code = book(org_a).code.value
    settings.CODE_LOOKUP_KEY = "a-new-lookup-key"
    assert "Maria Silva" not in matches(staff_client.get(SEARCH, {"q": code}))
    call_command("code_digests_refill", stdout=None)
    assert "Maria Silva" in matches(staff_client.get(SEARCH, {"q": code}))
