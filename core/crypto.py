"""Secrets at rest: provider API keys are stored encrypted with Fernet (AES + HMAC).

Keys come from settings.FIELD_ENCRYPTION_KEYS (env KEYSTAY_ENCRYPTION_KEY, comma-separated):
the first encrypts, all decrypt, so a key can be rotated by putting the new one first.
"""

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def derive_key(secret: str) -> str:
    """A Fernet key derived from another secret: for local runs and tests only."""
    digest = hashlib.sha256(f"keystay-field-encryption:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("KEYSTAY_ENCRYPTION_KEY is not set.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(
            "KEYSTAY_ENCRYPTION_KEY must hold Fernet keys (32 url-safe base64-encoded bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from error


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with KEYSTAY_ENCRYPTION_KEY: was the key "
            "changed without keeping the old one after it?"
        ) from error


def derive_lookup_key(secret: str) -> str:
    """A code-lookup key derived from another secret: for local runs and tests only (its
    label differs from derive_key's, so the two keys are never the same)."""
    return hashlib.sha256(f"keystay-code-lookup:{secret}".encode()).hexdigest()


def code_digest(code: str) -> str:
    """The keyed hash of a door code (HMAC-SHA256 under settings.CODE_LOOKUP_KEY): what
    the search compares, since a code's ciphertext differs at every write (random IV).

    Keyed, not a plain hash: six digits have a million values, so a plain hash of a code
    is the code to whoever reads the table. An empty code has an empty digest."""
    if not code:
        return ""
    key = settings.CODE_LOOKUP_KEY
    if not key:
        raise ImproperlyConfigured("KEYSTAY_CODE_LOOKUP_KEY is not set.")
    return hmac.new(key.encode(), code.strip().encode(), hashlib.sha256).hexdigest()


class EncryptedValue:
    """A model attribute read and written in plain text, stored in a ciphertext field.

    `code = EncryptedValue("code_ciphertext")` beside `code_ciphertext = TextField()`:
    the database only ever holds the ciphertext; an empty value is stored empty.

    With `digest_field`, each write also sets that field to the value's keyed hash
    (`code_digest`), so that an exact code can be found without decrypting every row.
    The model mixes in `CodeDigests` so that a save limited to `update_fields` naming the
    ciphertext writes the digest with it.
    """

    def __init__(self, field_name: str, digest_field: str | None = None):
        self.field_name = field_name
        self.digest_field = digest_field

    def __set_name__(self, owner, name: str) -> None:
        if self.digest_field:
            pairs = dict(getattr(owner, "code_digest_fields", {}))
            pairs[self.field_name] = self.digest_field
            owner.code_digest_fields = pairs

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        ciphertext = getattr(obj, self.field_name)
        return decrypt(ciphertext) if ciphertext else ""

    def __set__(self, obj, value: str) -> None:
        setattr(obj, self.field_name, encrypt(value) if value else "")
        if self.digest_field:
            setattr(obj, self.digest_field, code_digest(value))


class CodeDigests:
    """A model mixin: a save limited to `update_fields` that names a ciphertext field
    with a digest (EncryptedValue's `digest_field`) saves the digest too, so the two never
    part (PLAN_FIELDS and the like name the ciphertext only)."""

    code_digest_fields: dict[str, str] = {}

    def save(self, *args, **kwargs):
        fields = kwargs.get("update_fields")
        if fields is not None:
            fields = list(fields)
            fields += [
                digest
                for ciphertext, digest in self.code_digest_fields.items()
                if ciphertext in fields and digest not in fields
            ]
            kwargs["update_fields"] = fields
        super().save(*args, **kwargs)


def fill_code_digests(model, pairs: dict[str, str], *, batch: int = 2000) -> int:
    """Set every row's digests from its codes (`pairs`: ciphertext field → digest field),
    `batch` rows at a time by primary key, so that a table of millions is never read at
    once: the data migrations that add the digests, and a new CODE_LOOKUP_KEY (the
    `code_digests_refill` command). Returns how many rows were read."""
    written, last = 0, 0
    while True:
        rows = list(model.objects.filter(pk__gt=last).order_by("pk").only("pk", *pairs)[:batch])
        if not rows:
            return written
        for row in rows:
            for ciphertext, digest in pairs.items():
                value = getattr(row, ciphertext)
                setattr(row, digest, code_digest(decrypt(value)) if value else "")
        model.objects.bulk_update(rows, list(pairs.values()))
        written += len(rows)
        last = rows[-1].pk
