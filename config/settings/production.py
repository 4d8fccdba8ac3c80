"""Production: every secret comes from the environment, and a missing one stops the start."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
DEMO_MODE = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# ...which appends the client's address to X-Forwarded-For (the guest page's rate limit
# counts per client, not per proxy).
KEYSTAY_NUM_PROXIES = env.int("KEYSTAY_NUM_PROXIES", default=1)
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": KEYSTAY_NUM_PROXIES}  # noqa: F405
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A superuser opens every organization's doors: their sign-in asks for a second factor
# (they set up an authenticator app at their first sign-in).
KEYSTAY_TWO_FACTOR_FOR_SUPERUSERS = env.bool("KEYSTAY_TWO_FACTOR_FOR_SUPERUSERS", default=True)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Encrypts provider API keys at rest: required, or the app does not start.
FIELD_ENCRYPTION_KEYS = env.list("KEYSTAY_ENCRYPTION_KEY")
# Keys the hash that finds a stay by its exact door code: required, and never an
# encryption key (with it, a reader of the table could test code guesses offline).
CODE_LOOKUP_KEY = env("KEYSTAY_CODE_LOOKUP_KEY")
if CODE_LOOKUP_KEY in FIELD_ENCRYPTION_KEYS or CODE_LOOKUP_KEY == SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "KEYSTAY_CODE_LOOKUP_KEY must be a secret of its own, not KEYSTAY_ENCRYPTION_KEY "
        "or DJANGO_SECRET_KEY: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    )
