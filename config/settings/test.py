"""Settings for the test suite (pytest-django)."""

from .base import *  # noqa: F403
from .base import MIDDLEWARE, Q_CLUSTER

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
DEMO_MODE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# django-q2 reads its Conf once at import: `sync` must be set here, not with
# override_settings. Tasks then run inline, in the caller's process.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}

# Due work runs in the test's own thread (and its transaction); the tests of parallel
# provisioning ask for threads themselves, on PostgreSQL.
KEYSTAY_PROVISIONING_CONCURRENCY = 1

# Static files are served by the test server itself; WhiteNoise would want collectstatic.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise.")]

FIELD_ENCRYPTION_KEYS = ["4bYQ0wRk2m1b3c2XH0l6iZ1yF9Q8n2X5o0gk7m3VbE0="]
CODE_LOOKUP_KEY = "tests-only-code-lookup-key"
