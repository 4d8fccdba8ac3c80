"""Settings shared by every environment; each value can come from the environment or `.env`."""

import datetime
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Demo data (a seeded organization and login) is only ever created when this is on.
DEMO_MODE = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Sign-in that resists (properties/sign_in.py, properties/two_factor.py): failed
    # sign-ins counted in the database, one-time passwords, a Content-Security-Policy.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "django_q",
    "rest_framework",
    # Only for its AbstractAPIKey (api.models.OrganizationAPIKey); its own APIKey model and
    # table stay unused, and its admin page is unregistered in api/admin.py.
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    # Swagger UI and ReDoc as static files of our own: the API docs work with no internet.
    "drf_spectacular_sidecar",
    # Records to take away (exports of stays, lock events, alerts, guest messages) and the
    # properties' import with preview: core.exports.
    "import_export",
    "core",
    "properties",
    "locks",
    "reservations",
    "calendar_feeds",
    "guests",
    "desk",
    "hooks",
    "api",
    "pms_inbound",
]

MIDDLEWARE = [
    # First: load balancers probe /healthz… by the backend's address, over plain HTTP.
    "config.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "properties.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a refused sign-in into the lock-out page, whichever view refused it.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# An absolute default, so that the database does not depend on the working directory.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web process and one qcluster write side by side: WAL lets readers run during a
    # write, IMMEDIATE takes the write lock at BEGIN (no upgrade deadlock), and the busy
    # timeout waits for the lock instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The languages guests are spoken to in (their page and messages; core.languages). The
# staff's pages stay in LANGUAGE_CODE: there is no locale middleware. A language here needs
# locale/<code>/LC_MESSAGES/django.po (compiled to .mo) and config/formats/<code>/.
LANGUAGES = [
    ("en", "English"),
    ("pt", "Português"),
    ("es", "Español"),
    ("fr", "Français"),
    ("de", "Deutsch"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One way of writing dates and times everywhere (core.timezones), Django's own rendering too.
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
# Where `collectstatic` gathers the files WhiteNoise serves in production.
STATIC_ROOT = env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    # django-q2 writes cluster statistics to the cache on every guard cycle: keep that
    # off the database.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-q2: the ORM broker by default (delivery receipts, and a task enqueued inside a
# transaction only exists once that transaction commits); Redis when REDIS_URL is set.
# `retry` exceeds `timeout` so that a long task is not delivered twice. Failed tasks are
# acknowledged: the retry state of provider calls lives in Keystay's own tables.
Q_CLUSTER = {
    "name": "keystay",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 120,
    "retry": 180,
    "catch_up": False,
    "ack_failures": True,
    "max_attempts": 1,
    "save_limit": 500,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1

# Every process logs to its standard output, one line per record, for the supervisor
# (systemd's journal, a container runtime) to collect; nothing is written to files.
# Each line passes through one handler, which hides the token of a guest page or
# invitation link (Django's "Not Found: /g/…" lines, runserver's request lines): Django's
# own handlers (its console when DEBUG, mail to ADMINS, which Keystay does not set) are
# replaced by it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"hide_link_tokens": {"()": "core.log_privacy.HideLinkTokens"}},
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
            "filters": ["hide_link_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # httpx logs every request URL at INFO: keep provider traffic out of the logs.
        "httpx": {"level": "WARNING"},
        # axes logs every failed sign-in and its start-up at INFO; lock-outs are WARNINGs.
        "axes": {"level": "WARNING"},
    },
}

LOGIN_URL = "admin:login"
# Messages wait in the session (on the server), never in a cookie the browser can read:
# one of them is the invitation link, shown once to the manager who made it.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Sign-in (properties/sign_in.py, properties/two_factor.py; docs/sign-in.md) ----------
# Every sign-in form (the admin's, the API's /api/auth/login/, the invitation page's)
# authenticates through django-axes first: it counts failures in the database, so every
# web process and machine shares the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Import and export permissions from membership roles (django-import-export, below).
    "core.permissions.RolePermissionBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# One account from one client address: a guesser locks only themselves out of the account
# they guess at, never its owner signing in from elsewhere, and not for long.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int("KEYSTAY_SIGN_IN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = datetime.timedelta(
    minutes=env.int("KEYSTAY_SIGN_IN_COOLOFF_MINUTES", default=15)
)
AXES_RESET_ON_SUCCESS = True
# The same client address as every other limit in Keystay (KEYSTAY_NUM_PROXIES, below).
AXES_CLIENT_IP_CALLABLE = "core.client_address.client_ip"
# A page in the admin's frame that says how long to wait and what else to do.
AXES_LOCKOUT_CALLABLE = "properties.sign_in.lockout_response"
# Locked-out sign-ins have an admin page scoped to the manager's members (properties/admin.py).
AXES_ENABLE_ADMIN = False
# Axes logs every attempt and every success otherwise; failures are all it needs.
AXES_DISABLE_ACCESS_LOG = True
# Two-factor sign-in (TOTP apps, recovery codes): any person may turn it on; an
# organization may require it of its managers; this requires it of superusers.
KEYSTAY_TWO_FACTOR_FOR_SUPERUSERS = env.bool("KEYSTAY_TWO_FACTOR_FOR_SUPERUSERS", default=False)
# What authenticator apps show beside the code.
OTP_TOTP_ISSUER = "Keystay"
# Password reset emails: requests per client address, and emails per address.
PASSWORD_RESET_RATE = env("PASSWORD_RESET_RATE", default="5/hour")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=3 * 3600)

# --- Content-Security-Policy (django-csp) ------------------------------------------------
# The admin and Keystay's own pages run only this site's scripts and styles; an inline
# <script> or <style> needs the request's nonce. The guest page and the API docs send
# stricter or narrower policies of their own, which this never replaces.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # style="..." attributes (the admin's own, colours of states, the timeline's bars
        # placed per row) cannot run code; scripts and <style> elements stay nonce-only.
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [SELF],
        "form-action": [SELF],
    },
}

# Django's own backend signs people in; the role backend answers the import and export
# permissions django-import-export asks for (core.permissions), from membership roles.
# django-import-export: with no codes, any staff user could open any import or export
# page. With them it asks `has_perm("<app>.import_<model>")`, which only managers hold.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
# Its own escaping covers a leading "=" only; Keystay's resources escape every formula
# start themselves (core.exports), so the library's is left off to avoid a double quote.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
# Imports run in a transaction: a row that fails rolls the whole file back.
IMPORT_EXPORT_USE_TRANSACTIONS = True

# Managers invite people by email (properties.Invitation); a link works this many days.
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)
# Outgoing mail, e.g. EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (local runs
# print mail to the console). Tests use Django's in-memory outbox.
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Keystay <keystay@localhost>")

# Fernet keys for secrets stored in the database (provider API keys, webhook secrets):
# the first encrypts, every one decrypts. Local runs and tests derive one from SECRET_KEY
# when none is set; production demands it (see production.py).
FIELD_ENCRYPTION_KEYS = env.list("KEYSTAY_ENCRYPTION_KEY", default=[])
# The key of the keyed hash stored beside each door code (core.crypto.code_digest), which
# lets staff find a stay by its exact code. Not an encryption key (production refuses one):
# whoever holds it can test guesses against the table. Changing it needs
# `manage.py code_digests_refill`. Local runs and tests derive one from SECRET_KEY.
CODE_LOOKUP_KEY = env("KEYSTAY_CODE_LOOKUP_KEY", default="")

# Seam: without an API key, `make run` starts Seam's fake server for the demo.
SEAM_API_KEY = env("SEAM_API_KEY", default="")
SEAM_ENDPOINT = env("SEAM_ENDPOINT", default="")
# The address of Seam's fake server when `make run` started one for the demo (local
# settings only): the demo then finishes provider sign-ins through the fake, and says
# plainly what the fake cannot do (entrance codes) rather than failing at it.
SEAM_FAKE_ENDPOINT = ""
# The only Seam servers Keystay calls (whole origins: scheme, host, port). A connection's
# endpoint is typed by a manager; anything else would let them make this server call any
# address it can reach. An empty endpoint means Seam's API, which must be listed too.
SEAM_ALLOWED_ENDPOINTS = env.list(
    "SEAM_ALLOWED_ENDPOINTS", default=["https://connect.getseam.com"]
)
# How often the qcluster re-imports every connection's devices.
DEVICE_SYNC_INTERVAL_MINUTES = env.int("DEVICE_SYNC_INTERVAL_MINUTES", default=60)
UNMANAGED_CODES_INTERVAL_MINUTES = env.int("UNMANAGED_CODES_INTERVAL_MINUTES", default=15)
EVENTS_RECONCILE_INTERVAL_MINUTES = env.int("EVENTS_RECONCILE_INTERVAL_MINUTES", default=5)
# Door truth: how often each lock's codes are read back from the provider (a lock with a
# stay active or starting within 24 hours, and the others), and how long the provider
# gets to restore a code changed in the lock's own app before Keystay restores it.
LOCK_RECONCILE_HOT_MINUTES = env.int("LOCK_RECONCILE_HOT_MINUTES", default=5)
LOCK_RECONCILE_COLD_MINUTES = env.int("LOCK_RECONCILE_COLD_MINUTES", default=60)
LOCK_RECONCILE_GRACE_MINUTES = env.int("LOCK_RECONCILE_GRACE_MINUTES", default=10)
# A worker holds a lock step it took this long (a lease): if it dies mid-step, another
# worker takes the step over once the lease runs out. Longer than any step's provider
# calls take (a few calls of at most 10 s each).
LOCK_STEP_LEASE_SECONDS = env.int("LOCK_STEP_LEASE_SECONDS", default=300)
# /healthz/backlog answers 503 when a lock step is due longer than this and no worker
# holds it: the cluster is stopped or behind (config/health.py).
HEALTH_OVERDUE_SECONDS = env.int("HEALTH_OVERDUE_SECONDS", default=300)
# The code lifecycle: how many locks one worker programs at once (a thread each, with its
# own database connection). Steps of one lock always run one after another, across every
# worker and process (locks.pacing).
KEYSTAY_PROVISIONING_CONCURRENCY = env.int("KEYSTAY_PROVISIONING_CONCURRENCY", default=8)
# Door truth: how many locks one worker reads back at once (a thread each, with its own
# database connection); the periodic pass shares its locks out to the workers in chunks.
# A worker runs one task at a time, so it holds max(this, the provisioning's) + 1
# connections at most: keep it at or below KEYSTAY_PROVISIONING_CONCURRENCY, or count it
# in the connections' formula instead (docs/operations.md).
KEYSTAY_READBACK_CONCURRENCY = env.int("KEYSTAY_READBACK_CONCURRENCY", default=8)
# Before the guest arrives: hours before check-in at which Keystay checks that every lock
# confirmed the guest's code (a listing may set its own), and where the links in its
# emails point (KEYSTAY_PUBLIC_URL, below).
PREARRIVAL_CHECK_HOURS = env("PREARRIVAL_CHECK_HOURS", default="24,2")
# Hours before check-in at which a stay whose guest must be verified and is not yet is
# raised on the dashboard and emailed to the managers (once per stay).
VERIFICATION_ALERT_HOURS = env.int("VERIFICATION_ALERT_HOURS", default=24)
# Guest messages: a confirmed stay whose door-code email no stay event planned (one
# confirmed again after a cancellation) is planned by a catch-up this often.
GUEST_MESSAGES_CATCH_UP_MINUTES = env.int("GUEST_MESSAGES_CATCH_UP_MINUTES", default=5)
# The cluster's periodic work, matched by name and brought in line with these settings
# whenever a cluster starts (core.schedules): a changed interval applies on restart.
# --- Calendar feeds (calendar_feeds/): iCal exports of Airbnb, Vrbo, Booking.com… -------
# How often every feed is read; the most of an answer read (a larger calendar is refused,
# cancelling nothing); how long one read may take.
KEYSTAY_CALENDAR_FEED_INTERVAL_MINUTES = env.int(
    "KEYSTAY_CALENDAR_FEED_INTERVAL_MINUTES", default=10
)
KEYSTAY_CALENDAR_FEED_MAX_BYTES = env.int(
    "KEYSTAY_CALENDAR_FEED_MAX_BYTES", default=5 * 1024 * 1024
)
KEYSTAY_CALENDAR_FEED_TIMEOUT_SECONDS = env.int(
    "KEYSTAY_CALENDAR_FEED_TIMEOUT_SECONDS", default=30
)
# A read that loses more than this share of a feed's coming stays at once (and at least
# KEYSTAY_CALENDAR_FEED_MASS_LOSS_MIN of them) cancels nothing and marks the feed failing.
KEYSTAY_CALENDAR_FEED_MAX_LOSS_SHARE = env.float(
    "KEYSTAY_CALENDAR_FEED_MAX_LOSS_SHARE", default=0.5
)
KEYSTAY_CALENDAR_FEED_MASS_LOSS_MIN = env.int("KEYSTAY_CALENDAR_FEED_MASS_LOSS_MIN", default=3)
# A feed answering 404/410 this long gets its own email (the host made a new link).
KEYSTAY_CALENDAR_FEED_GONE_ALERT_HOURS = env.int(
    "KEYSTAY_CALENDAR_FEED_GONE_ALERT_HOURS", default=24
)

KEYSTAY_SCHEDULES = [
    {
        "name": "Code lifecycle: carry out due work",
        "func": "reservations.tasks.sweep",
        "minutes": 1,
    },
    {
        "name": "Door truth: read back the codes of every lock whose turn it is",
        "func": "reservations.tasks.reconcile_locks",
        "minutes": 1,
    },
    {
        "name": "Before the guest arrives: check that every lock confirmed the code",
        "func": "reservations.tasks.prearrival_checks",
        "minutes": 1,
    },
    {
        "name": "Guest messages: send the emails whose instant has come",
        "func": "guests.tasks.send_due",
        "minutes": 1,
    },
    {
        "name": "Guest messages: plan the door-code email of stays no event planned",
        "func": "guests.tasks.plan_missed",
        "minutes": GUEST_MESSAGES_CATCH_UP_MINUTES,
    },
    {
        "name": "Import devices from every lock provider connection",
        "func": "locks.tasks.sync_all_connections",
        "minutes": DEVICE_SYNC_INTERVAL_MINUTES,
    },
    {
        "name": "Leftover codes: remove the ones managers confirmed, retry failures",
        "func": "locks.tasks.remove_leftovers",
        "minutes": 1,
    },
    {
        "name": "Import unmanaged codes from every lock provider connection",
        "func": "locks.tasks.import_all_unmanaged_codes",
        "minutes": UNMANAGED_CODES_INTERVAL_MINUTES,
    },
    {
        "name": "Reconcile lock events from every lock provider connection",
        "func": "reservations.tasks.reconcile_all_events",
        "minutes": EVENTS_RECONCILE_INTERVAL_MINUTES,
    },
    {
        "name": "Listing alerts: resolve double bookings and unverified guests of stays over",
        "func": "reservations.tasks.listing_alerts_expire",
        "minutes": 60,
    },
    {
        "name": "Calendar feeds: read every due feed (a task per feed)",
        "func": "calendar_feeds.tasks.sync_due",
        "minutes": KEYSTAY_CALENDAR_FEED_INTERVAL_MINUTES,
    },
    {
        "name": "Outgoing webhooks: deliver due webhooks",
        "func": "hooks.tasks.deliver_due",
        "minutes": 1,
    },
    {
        "name": "PMS webhooks: apply received deliveries and retry failed ones",
        "func": "pms_inbound.tasks.apply_due",
        "minutes": 1,
    },
]
# Requests to addresses users type (outgoing webhooks; core.outbound): HTTPS only, and
# never to a private, loopback or link-local network, unless these say otherwise (a
# receiver on this machine or on the deployment's own network; the tests' receiver).
KEYSTAY_OUTBOUND_ALLOW_HTTP = env.bool("KEYSTAY_OUTBOUND_ALLOW_HTTP", default=False)
KEYSTAY_OUTBOUND_ALLOW_PRIVATE = env.bool("KEYSTAY_OUTBOUND_ALLOW_PRIVATE", default=False)
# Keystay's public address (e.g. https://keystay.example.com): where Seam delivers webhooks
# and where links in emails and guest messages point. Empty: the address of the request
# at hand (the manager's browser), or a bare path where there is none.
KEYSTAY_PUBLIC_URL = env("KEYSTAY_PUBLIC_URL", default="")

# --- The guest page (guests/) ------------------------------------------------------------
# Requests to the guest page per client address, and per link, counted in Django's cache:
# with Redis every process and machine shares the count; without it, each process counts
# alone. Beyond it: 429 until the window ends.
GUEST_PAGE_RATE = env("GUEST_PAGE_RATE", default="30/minute")

# --- The front desk (desk/) --------------------------------------------------------------
# Searches by exact door code per person, counted in Django's cache like the guest page's
# limit: beyond it the code part of a search is refused (429) until the window ends, so
# the search box cannot be used to try codes one after another.
CODE_LOOKUP_RATE = env("KEYSTAY_CODE_LOOKUP_RATE", default="10/minute")
# How many proxies in front of Keystay append the address they heard from to
# X-Forwarded-For; the client's address is read that many places from the right. 0: none,
# REMOTE_ADDR is the client (production assumes its one TLS-terminating proxy).
KEYSTAY_NUM_PROXIES = env.int("KEYSTAY_NUM_PROXIES", default=0)

# The most characters a guest message holds, subject and body together: a template that
# could render longer with the longest names, address and instructions is refused when it
# is saved, and every preview, copy and send is cut there.
GUEST_MESSAGE_MAX_CHARS = env.int("GUEST_MESSAGE_MAX_CHARS", default=50_000)

# --- The listing import ----------------------------------------------------------------
# Its preview and its confirmation are two requests that may reach two processes: with
# Redis the uploaded file waits in the shared cache, otherwise in this machine's temporary
# folder (one machine, any number of processes).
LISTING_IMPORT_UPLOADS_IN_CACHE = bool(REDIS_URL)
# Limits every import path shares (the admin, the API, the command): the file's size,
# checked before it is read; its rows; and the size an XLSX unpacks to (a zip of a few
# kilobytes can hold gigabytes of XML), checked before the workbook is parsed.
LISTING_IMPORT_MAX_BYTES = env.int("LISTING_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
LISTING_IMPORT_MAX_ROWS = env.int("LISTING_IMPORT_MAX_ROWS", default=20_000)
LISTING_IMPORT_MAX_UNPACKED_BYTES = env.int(
    "LISTING_IMPORT_MAX_UNPACKED_BYTES", default=50 * 1024 * 1024
)


# ------------------------------------------------------------ REST API (api/, issue 7)
# Organization API keys (PMS integrations, `Authorization: Bearer <key>`) or a session
# (the browsable API and the docs); every view narrows itself to the caller's principal:
# a key's one organization and role, or a person's memberships. The rate counts per key.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.OrganizationAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.APIKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_THROTTLE_RATE", default="1200/minute")},
    # Keystay's throttles ask core.client_address; a DRF throttle class used as it comes
    # reads the address by this count, the same rule (unset, it trusts the whole header).
    "NUM_PROXIES": KEYSTAY_NUM_PROXIES,
    "DEFAULT_SCHEMA_CLASS": "api.schema.KeystayAutoSchema",
    "DEFAULT_METADATA_CLASS": "api.metadata.KeystayMetadata",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Keystay API",
    "DESCRIPTION": (
        "Reservations, listings, locks and door codes for PMS and channel-manager "
        "integrations. Authenticate with `Authorization: Bearer <key>`, an organization "
        "API key: made by the organization's managers in the admin (REST API → API keys) "
        "or with `manage.py create_api_key`. A key acts in its one organization, with its "
        "role (manager or staff)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # /api/docs/ and /api/redoc/ load nothing from a CDN: drf-spectacular-sidecar ships
    # both as static files (templates/drf_spectacular/redoc.html drops ReDoc's web fonts),
    # and Swagger UI's online validator badge (a call to validator.swagger.io) is off.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "DeviceKindEnum": "api.fields.API_KINDS",
        "LockStateEnum": "reservations.models.LockAccess.State",
        "CodeStateEnum": "reservations.models.Reservation.CODE_STATES",
        "ReservationStatusEnum": "reservations.models.Reservation.Status",
        "AssignmentRoleEnum": "locks.models.LockAssignment.Role",
        "SyncStateEnum": "locks.models.LockProviderConnection.SyncState",
        "EventKindEnum": "reservations.models.LockEvent.Kind",
        "EventMethodEnum": "reservations.models.LockEvent.Method",
    },
}
# ------------------------------------------------------------ end of REST API

# --- PMS webhooks (pms_inbound/) ----------------------------------------------------------
# The largest webhook body accepted from a PMS (bytes); beyond it: 413, nothing recorded.
PMS_WEBHOOK_MAX_BYTES = env.int("PMS_WEBHOOK_MAX_BYTES", default=256 * 1024)
# Attempts to apply a delivery that fails for a passing reason (then kept as failed).
PMS_DELIVERY_MAX_ATTEMPTS = env.int("PMS_DELIVERY_MAX_ATTEMPTS", default=6)
# Guesty's Open API (guest contact details for lean v2 payloads), through the outbound guard.
GUESTY_API_URL = env("GUESTY_API_URL", default="https://open-api.guesty.com")
GUESTY_API_RATE_PER_MINUTE = env.int("GUESTY_API_RATE_PER_MINUTE", default=60)
