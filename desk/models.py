"""What the front desk records: who looked a door code up, who revealed or copied one."""

from django.conf import settings
from django.db import models

from properties.models import Organization
from reservations.models import LockAccess, Reservation


class CodeLookup(models.Model):
    """One search by exact door code, in one of the searcher's organizations: who, when
    and what it found. The code itself is never stored, only its keyed hash (so an
    auditor holding the key can tell whether a given code was looked up)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    code_digest = models.CharField(max_length=64, editable=False)
    # Refused by the per-person limit: recorded all the same, nothing was searched.
    refused = models.BooleanField(default=False)
    found_count = models.PositiveIntegerField(default=0)
    # What matched, for the record: [{"what": "stay code", "reservation": 12, "door": "…"}].
    found = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "code lookup"
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["organization", "-at"], name="code_lookup_org_time")]

    def __str__(self) -> str:
        return f"Code lookup by {self.user} at {self.at:%Y-%m-%d %H:%M}"


class CodeDisclosure(models.Model):
    """A door code (or the guest link, which shows it) shown to or copied by a person."""

    class Action(models.TextChoices):
        REVEAL = "reveal", "Code revealed"
        COPY = "copy", "Code copied"
        LINK = "link", "Guest link shown"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False
    )
    reservation = models.ForeignKey(
        Reservation, on_delete=models.CASCADE, related_name="code_disclosures"
    )
    # The door whose code it was; empty: the stay's code.
    access = models.ForeignKey(
        LockAccess, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    at = models.DateTimeField()

    class Meta:
        verbose_name = "code shown or copied"
        verbose_name_plural = "codes shown or copied"
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["organization", "-at"], name="code_disclosure_org_time"),
            models.Index(fields=["reservation", "-at"], name="code_disclosure_stay_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.user} at {self.at:%Y-%m-%d %H:%M}"
