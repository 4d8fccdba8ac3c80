"""Local development and the demo: `make run`."""

from .base import *  # noqa: F403
from .base import SEAM_ALLOWED_ENDPOINTS, SEAM_ENDPOINT, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-only-not-a-secret")
DEMO_MODE = env.bool("KEYSTAY_DEMO", default=True)
# Invitation emails (and their links) appear in the terminal of `make run`.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))

if not FIELD_ENCRYPTION_KEYS:  # noqa: F405
    from core.crypto import derive_key

    FIELD_ENCRYPTION_KEYS = [derive_key(SECRET_KEY)]

if not CODE_LOOKUP_KEY:  # noqa: F405
    from core.crypto import derive_lookup_key

    CODE_LOOKUP_KEY = derive_lookup_key(SECRET_KEY)

# scripts/run.sh exports the address of the fake Seam server it started (and only then).
SEAM_FAKE_ENDPOINT = env("SEAM_FAKE_ENDPOINT", default="")

# The demo's fake Seam server (scripts/run.sh starts it on loopback and exports its
# address as SEAM_ENDPOINT) is a server this machine may call.
SEAM_ALLOWED_ENDPOINTS = [
    *SEAM_ALLOWED_ENDPOINTS,
    SEAM_ENDPOINT or f"http://127.0.0.1:{env('SEAM_FAKE_PORT', default='8787')}",
]
