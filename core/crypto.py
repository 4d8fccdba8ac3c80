"""Secrets at rest: provider API keys are stored encrypted with Fernet (AES + HMAC).

Keys come from settings.FIELD_ENCRYPTION_KEYS (env KEYSTAY_ENCRYPTION_KEY, comma-separated):
the first encrypts, all decrypt, so a key can be rotated by putting the new one first.
"""

import base64
import hashlib
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


class EncryptedValue:
    """A model attribute read and written in plain text, stored in a ciphertext field.

    `code = EncryptedValue("code_ciphertext")` beside `code_ciphertext = TextField()`:
    the database only ever holds the ciphertext; an empty value is stored empty.
    """

    def __init__(self, field_name: str):
        self.field_name = field_name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        ciphertext = getattr(obj, self.field_name)
        return decrypt(ciphertext) if ciphertext else ""

    def __set__(self, obj, value: str) -> None:
        setattr(obj, self.field_name, encrypt(value) if value else "")
