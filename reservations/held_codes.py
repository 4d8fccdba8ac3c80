"""Which codes found on the locks are Keystay's own codes, a stay's or a turnover crew's
(for `locks.leftovers`).

A code made outside Keystay may be marked leftover and removed by a manager; never one
that a Keystay record says is a guest's or a crew member's. `locks` cannot read these
records (it sits below this app), so it asks through its `unmanaged_codes_claimed` signal
and this app answers. A record of any state counts, removed or revoked ones too: a code
Keystay once gave a guest is never deleted as somebody else's.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q

from .models import AccessOverride, LockAccess, LockAccessLog, ReservationCode, Turnover
from .provisioning import OWN_NAME

NAMED = "Named as a Keystay guest's or crew's code"
HELD_ID = "A Keystay guest's or crew's code (the provider's id is on Keystay's record)"
HELD_DIGITS = "The digits of a Keystay guest's or crew's code"


def stay_codes_among(codes) -> dict[int, str]:
    """Of these UnmanagedCode rows, the ones Keystay holds as a stay's code: pk → why.

    Matched by name (Keystay's own prefixes), by provider id (a lock access's code or
    backup code, or any id in a lock access's history) and by value (the keyed hashes of
    the stay's code, each lock's code, backup code, override code and turnover code)
    within the code's organization. A handful of indexed queries per organization,
    whatever the count.
    """
    claimed: dict[int, str] = {}
    by_org: dict[int, list] = defaultdict(list)
    for code in codes:
        if OWN_NAME.match(code.name or ""):
            claimed[code.pk] = NAMED
        else:
            by_org[code.organization_id].append(code)
    for org_id, group in by_org.items():
        ids = {c.provider_id for c in group}
        held_ids: set[str] = set()
        for pair in (
            LockAccess.objects.filter(organization_id=org_id)
            .filter(Q(provider_id__in=ids) | Q(backup_provider_id__in=ids))
            .values_list("provider_id", "backup_provider_id")
        ):
            held_ids.update(pair)
        held_ids.update(
            LockAccessLog.objects.filter(organization_id=org_id, provider_id__in=ids).values_list(
                "provider_id", flat=True
            )
        )
        digests = {c.code_digest for c in group if c.code_digest}
        held_digests: set[str] = set()
        if digests:
            for row in (
                LockAccess.objects.filter(organization_id=org_id)
                .filter(
                    Q(code_digest__in=digests)
                    | Q(provider_code_digest__in=digests)
                    | Q(backup_code_digest__in=digests)
                )
                .values_list("code_digest", "provider_code_digest", "backup_code_digest")
            ):
                held_digests.update(row)
            held_digests.update(
                ReservationCode.objects.filter(
                    reservation__organization_id=org_id, code_digest__in=digests
                ).values_list("code_digest", flat=True)
            )
            held_digests.update(
                AccessOverride.objects.filter(
                    reservation__organization_id=org_id, code_digest__in=digests
                ).values_list("code_digest", flat=True)
            )
            held_digests.update(
                Turnover.objects.filter(
                    organization_id=org_id, code_digest__in=digests
                ).values_list("code_digest", flat=True)
            )
        for code in group:
            if code.provider_id in held_ids:
                claimed[code.pk] = HELD_ID
            elif code.code_digest and code.code_digest in held_digests:
                claimed[code.pk] = HELD_DIGITS
    return claimed
