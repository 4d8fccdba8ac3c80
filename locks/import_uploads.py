"""Uploads waiting between the listing import's preview and its confirmation.

The browser is given a random key, never a file name; the session records which keys its
person previewed, for which organization. Confirming takes the key back: a key that this
session did not preview (another person's, a crafted one, a file name) is unknown, and
no file is touched. The upload waits in the cache when the cache is shared between
processes (Redis), otherwise in a folder of this machine's temporary directory, named by
the key alone; the plan its preview made (signed text, see `listing_import.dump_plan`)
waits beside it, so that the confirm need not check the file again.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage

SESSION_KEY = "listing_import_uploads"
KEEP = 5  # pending uploads per session: a few browser tabs
MAX_AGE_SECONDS = 2 * 60 * 60
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class PendingUpload:
    key: str
    organization_id: int
    file_name: str
    file_format: str
    data: bytes
    plan: str | None = None  # the preview's plan, `listing_import.dump_plan`


def _in_cache() -> bool:
    return settings.LISTING_IMPORT_UPLOADS_IN_CACHE


def _folder() -> FileSystemStorage:
    return FileSystemStorage(
        location=Path(tempfile.gettempdir()) / "keystay-listing-imports",
        directory_permissions_mode=0o700,
        file_permissions_mode=0o600,
    )


# What is stored under a key: the upload itself, and its preview's plan.
PARTS = ("", ".plan")


def _write(name: str, data: bytes) -> None:
    if _in_cache():
        cache.set(f"listing-import:{name}", data, timeout=MAX_AGE_SECONDS)
    else:
        # Readable by this server's user alone (the temporary folder is everyone's): the
        # file is created 0600, not created with the umask's mode and narrowed after.
        folder = _folder()
        location = Path(folder.location)
        location.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # a folder an older version made
            location.chmod(0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(folder.path(name), flags, 0o600), "wb") as stored:
            stored.write(data)


def _read(name: str) -> bytes | None:
    if _in_cache():
        return cache.get(f"listing-import:{name}")
    folder = _folder()
    if not folder.exists(name):
        return None
    with folder.open(name, "rb") as stored:
        return stored.read()


def _delete(key: str) -> None:
    for part in PARTS:
        if _in_cache():
            cache.delete(f"listing-import:{key}{part}")
        else:
            _folder().delete(key + part)


def store(
    request,
    *,
    organization_id: int,
    file_name: str,
    file_format: str,
    data: bytes,
    plan: str | None = None,
) -> str:
    """Keep an upload (and its preview's plan) for its confirmation by the same person;
    returns its key."""
    key = secrets.token_urlsafe(32)
    _write(key, data)
    if plan is not None:
        _write(key + ".plan", plan.encode())
    pending = dict(request.session.get(SESSION_KEY, {}))
    pending[key] = {
        "user": request.user.pk,
        "organization": organization_id,
        "name": file_name[:200],
        "format": file_format,
        "at": time.time(),
    }
    # Older previews of this session are dropped, with their files.
    for old in sorted(pending, key=lambda k: pending[k]["at"])[:-KEEP]:
        _delete(old)
        del pending[old]
    request.session[SESSION_KEY] = pending
    return key


def take(request, key: str) -> PendingUpload | None:
    """The upload this person previewed under `key` in this session, or None.

    Removes it from the session and from its store: a key is confirmed once.
    """
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        return None
    pending = dict(request.session.get(SESSION_KEY, {}))
    entry = pending.pop(key, None)
    if entry is None:
        return None  # not previewed in this session: nothing is read, nothing deleted
    request.session[SESSION_KEY] = pending
    try:
        data = _read(key)
        plan = _read(key + ".plan")
    finally:
        _delete(key)
    if (
        data is None
        or entry["user"] != request.user.pk
        or time.time() - entry["at"] > MAX_AGE_SECONDS
    ):
        return None
    return PendingUpload(
        key,
        entry["organization"],
        entry["name"],
        entry["format"],
        data,
        plan=plan.decode() if plan is not None else None,
    )
