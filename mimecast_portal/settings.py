"""The one settings module. Everything that differs between demo, test and production comes from
the environment through the helpers in ``env.py``; nothing here branches on a profile name.

Unset DATABASE_URL means SQLite and unset CELERY_BROKER_URL means the file-system broker: that is
the demo, which must run with nothing but Python. Production and the test suite set both.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from mimecast_portal.env import env_bool, env_int, env_list, env_str, env_time_zone

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "" if not DEBUG else "insecure-dev-only-key-" + "x" * 40)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# HTTPS defaults to on outside DEBUG; the demo on http://127.0.0.1 turns it off explicitly.
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
CSRF_FAILURE_VIEW = "investigations.core.views.csrf_failure"

# Idle timeout: every request pushes expiry forward, so a session dies after this much inactivity.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    # Serves the API docs' Swagger UI from our own static files (no CDN).
    "ninja",
    # Two-step sign-in for local accounts: authenticator apps, recovery codes, passkeys.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "investigations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "investigations.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the user and messages: a local user with two-step sign-in gives the second factor
    # before any other page.
    "investigations.accounts.mfa_views.SecondFactorMiddleware",
    # After the session and the user: the session's row kept current, a revoked session refused.
    "investigations.accounts.sessions.SessionActivityMiddleware",
    # After it: a single sign-on session's groups asked again when due, the session ended if refused.
    "investigations.accounts.sso_check.SsoSessionCheckMiddleware",
    # After the session, the user and messages: the case the user works in, for pages and the audit trail.
    "investigations.core.middleware.CurrentCaseMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "investigations.core.middleware.UserTimeZoneMiddleware",
    # Axes last, as its docs require, so it sees the final authentication outcome.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mimecast_portal.urls"
WSGI_APPLICATION = "mimecast_portal.wsgi.application"
ASGI_APPLICATION = "mimecast_portal.asgi.application"

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
                "investigations.core.context_processors.roles",
                "investigations.core.context_processors.theme",
                "investigations.accounts.sso.sso_context",
                "investigations.accounts.saml.saml_context",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    # The demo: one file, WAL so the worker and the web server can share it, and IMMEDIATE
    # transactions so two writers queue for the lock instead of failing with "database is locked".
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "demo.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "investigations.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Single sign-on with an OpenID Connect provider: off while OIDC_ISSUER is empty (the demo signs in with
# local passwords). Every endpoint comes from the issuer's discovery document, never set one by one.
OIDC_ISSUER = env_str("OIDC_ISSUER", "")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are required too.")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
# Empty: any address the provider vouches for; otherwise only these domains may sign in.
OIDC_ALLOWED_EMAIL_DOMAINS = env_list("OIDC_ALLOWED_EMAIL_DOMAINS")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# "group=role,group=role", applied at every sign-in: a group that maps to no role gives none.
OIDC_GROUP_ROLES = env_str("OIDC_GROUP_ROLES", "")
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid email profile groups")
if OIDC_ISSUER:
    AUTHENTICATION_BACKENDS.append("investigations.accounts.sso.SsoBackend")
# Single sign-on with a SAML 2.0 identity provider: off while neither metadata source is set. The
# provider's metadata gives its endpoints and the certificate its signed assertions are checked with.
SAML_IDP_METADATA_URL = env_str("SAML_IDP_METADATA_URL", "")
SAML_IDP_METADATA_FILE = env_str("SAML_IDP_METADATA_FILE", "")
SAML_SP_ENTITY_ID = env_str("SAML_SP_ENTITY_ID", "")
# Optional: this portal's key and certificate, to sign its AuthnRequests (and published in its metadata).
SAML_SP_KEY_FILE = env_str("SAML_SP_KEY_FILE", "")
SAML_SP_CERT_FILE = env_str("SAML_SP_CERT_FILE", "")
SAML_XMLSEC_BINARY = env_str("SAML_XMLSEC_BINARY", "/usr/bin/xmlsec1")
SAML_PROVIDER_NAME = env_str("SAML_PROVIDER_NAME", "SAML")
SAML_ALLOWED_EMAIL_DOMAINS = env_list("SAML_ALLOWED_EMAIL_DOMAINS")
SAML_EMAIL_ATTRIBUTE = env_str("SAML_EMAIL_ATTRIBUTE", "mail")
SAML_NAME_ATTRIBUTE = env_str("SAML_NAME_ATTRIBUTE", "displayName")
SAML_GROUPS_ATTRIBUTE = env_str("SAML_GROUPS_ATTRIBUTE", "groups")
# "group=role,group=role", as OIDC_GROUP_ROLES (whose value it takes when unset).
SAML_GROUP_ROLES = env_str("SAML_GROUP_ROLES", OIDC_GROUP_ROLES)
if SAML_IDP_METADATA_URL or SAML_IDP_METADATA_FILE:
    if not SAML_SP_ENTITY_ID:
        raise ImproperlyConfigured("SAML is on: SAML_SP_ENTITY_ID is required too.")
    if bool(SAML_SP_KEY_FILE) != bool(SAML_SP_CERT_FILE):
        raise ImproperlyConfigured("SAML_SP_KEY_FILE and SAML_SP_CERT_FILE go together.")
    AUTHENTICATION_BACKENDS.append("investigations.accounts.saml.SamlBackend")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins: after AXES_FAILURE_LIMIT failures, a lock for the cool-off period.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
# Either the account name or the client address reaching the limit trips the lock.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False
AXES_CLIENT_IP_CALLABLE = "investigations.core.middleware.client_ip"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "investigations.core.static.ManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "investigations.core.static.StaticFilesStorage"
        )
    },
}

# Strict CSP: scripts and styles only from our own static files, nothing inline, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# Celery: Redis in production and tests; the file-system transport for the demo.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
if not CELERY_BROKER_URL:
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    # kombu's file-system transport with atomic writes: its own lets the worker read a message
    # file before it is fully written (JSONDecodeError, the worker exits).
    CELERY_BROKER_TRANSPORT = "investigations.core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, fixed so that a worker stays up through a Redis outage (its own exits
    # with "Unrecoverable error" when Redis drops while the worker holds unacknowledged tasks).
    CELERY_BROKER_TRANSPORT = "investigations.core.broker:RedisTransport"
# Sessions are read from a cache every web process shares and written through to the table (which
# revocation and "my sessions" read): Redis when the broker is Redis. The demo has no shared cache (a
# session ended in one process would live on in another's memory), so it keeps them in the table alone.
# Django's default cache stays each process's memory.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES["sessions"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CELERY_BROKER_URL,
        "KEY_PREFIX": "portal",
    }
    SESSION_CACHE_ALIAS = "sessions"
    SESSION_ENGINE = "investigations.accounts.sessions"
_default_backend = (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else f"file://{VAR_DIR / 'celery' / 'results'}"
)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", _default_backend)
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Audit checkpoints live outside the database so a database-only attacker cannot rewrite them.
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit-checkpoints")))
AUDIT_CHECKPOINT_KEY = env_str("AUDIT_CHECKPOINT_KEY", "" if not DEBUG else "dev-only-checkpoint-key")
if not AUDIT_CHECKPOINT_KEY:
    raise ImproperlyConfigured(
        "AUDIT_CHECKPOINT_KEY is required when DEBUG is off (an HMAC key for audit checkpoints)."
    )
# A checkpoint is also queued every this many events (0: only the periodic one), so an owner of the
# database could rewrite at most this many events, or one AUDIT_CHECKPOINT_INTERVAL, unseen.
AUDIT_CHECKPOINT_EVERY = env_int("AUDIT_CHECKPOINT_EVERY", 1000, minimum=0)
# verify_audit fails when events exist but no checkpoint does, unless checkpoints are deliberately
# not kept (then nothing outside the database vouches for the chain, and it says so).
AUDIT_CHECKPOINTS_KEPT = env_bool("AUDIT_CHECKPOINTS_KEPT", True)
# The role that owns the tables and migrates them, when DATABASE_URL is the runtime role that
# `manage.py db_roles` grants (the tests create and migrate their database as this one).
DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL", "")
# Fernet keys for credentials stored in the database; the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is required when DEBUG is off (Fernet keys, comma separated).")

# The Mimecast connection from the environment; an admin can take over on the settings page.
MIMECAST_ENV = {key: value for key, value in os.environ.items() if key.startswith("MIMECAST_")}

# Only trust X-Forwarded-For when a reverse proxy we run sets it; the client's address is the hop
# TRUSTED_PROXY_COUNT places from the right (each of our proxies appends one hop).
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1, minimum=1)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "portal@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # pysaml2 logs whole SAML messages and the people in them below WARNING, whatever LOG_LEVEL says.
    "loggers": {"saml2": {"level": "WARNING"}},
}

# The message page's SAFE-score panel reuses the account's scores (one list, the same for every
# message, slow to change) for this long instead of asking Mimecast on every page; 0 asks every time.
# It is kept in Django's default cache (each process's memory; see CACHES).
SAFE_SCORE_CACHE_SECONDS = env_int("SAFE_SCORE_CACHE_SECONDS", 900, minimum=0)

# Remediation with four-eyes approval. Every duration here is read once at start-up.
REMEDIATION_APPROVAL_TTL_HOURS = env_int("REMEDIATION_APPROVAL_TTL_HOURS", 24, minimum=1)
# Deciding needs the password again when this session's sign-in or re-authentication is older than this.
FRESH_AUTH_MAX_AGE_SECONDS = env_int("FRESH_AUTH_MAX_AGE_SECONDS", 600, minimum=30)

# Two-step sign-in: the roles that may not decide without it (single sign-on users are exempt: the
# provider asks for its own), and the name authenticator apps show for the portal.
MFA_REQUIRED_ROLES = env_list("MFA_REQUIRED_ROLES", ["approver", "admin"])
MFA_ISSUER = env_str("MFA_ISSUER", "Mimecast Investigation Portal")
OTP_TOTP_ISSUER = MFA_ISSUER
# Passkeys only as a second factor after the password, never a sign-in by themselves.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_NAME = MFA_ISSUER
# The relying party is the host the browser sees (the demo's localhost, a deployment's own name).
OTP_WEBAUTHN_HELPER_CLASS = "investigations.accounts.mfa.PortalWebAuthnHelper"
# That helper derives the relying party and the origin from the request, so django-otp-webauthn's
# checks for the fixed settings it replaces do not apply.
SILENCED_SYSTEM_CHECKS = ["otp_webauthn.E010", "otp_webauthn.E030"]

# A single sign-on session asks the provider again for the user's groups this often (its roles follow),
# and ends, whatever its use, this long after its sign-in at the provider.
OIDC_SESSION_CHECK_SECONDS = env_int("OIDC_SESSION_CHECK_SECONDS", 900, minimum=30)
OIDC_SESSION_MAX_SECONDS = env_int("OIDC_SESSION_MAX_SECONDS", 12 * 3600, minimum=300)
# "off": the password form serves BREAK_GLASS_USERS only (for when the provider is down); everyone else
# signs in at the provider. Every sign-in of a break-glass user is audited and flagged to the admins.
LOCAL_SIGN_IN = env_bool("LOCAL_SIGN_IN", True)
BREAK_GLASS_USERS = env_list("BREAK_GLASS_USERS")
# Claims of one request before it is failed: the cut-off for a task that keeps killing its worker.
REMEDIATION_MAX_ATTEMPTS = env_int("REMEDIATION_MAX_ATTEMPTS", 6, minimum=1)
# A claim lasts this long; longer than the task's hard time limit, so only a dead worker's claim lapses.
REMEDIATION_LEASE_SECONDS = env_int("REMEDIATION_LEASE_SECONDS", CELERY_TASK_TIME_LIMIT + 60, minimum=1)
# The sweeper publishes again what has waited this long for a worker (outbox rows, queued requests).
REMEDIATION_REDISPATCH_AFTER_SECONDS = env_int("REMEDIATION_REDISPATCH_AFTER_SECONDS", 60, minimum=1)
# Retry backoff: base * 2^(attempt-1), capped, never shorter than Mimecast's X-RateLimit-Reset.
REMEDIATION_RETRY_BASE_MS = env_int("REMEDIATION_RETRY_BASE_MS", 5000, minimum=0)
REMEDIATION_RETRY_MAX_MS = env_int("REMEDIATION_RETRY_MAX_MS", 300_000, minimum=0)
REMEDIATION_POLL_INTERVAL_SECONDS = env_int("REMEDIATION_POLL_INTERVAL_SECONDS", 10, minimum=1)
# Counts that have not settled after this long are taken as final (Mimecast has no "done" flag).
REMEDIATION_POLL_GIVE_UP_SECONDS = env_int("REMEDIATION_POLL_GIVE_UP_SECONDS", 3600, minimum=1)

# Outbound webhooks on request state changes (settings/webhooks/). A receiver must be https on a
# host that resolves to public addresses; WEBHOOK_ALLOWED_HOSTS (host:port entries, a bare host meaning
# 443) lets through the listed hosts as they are, and plain http only to a listed loopback host (the
# tests' and the demo's receivers).
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS")
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
# The waits between attempts, in seconds; a delivery is given up after the last one fails.
try:
    WEBHOOK_RETRY_SECONDS = [int(n) for n in env_list("WEBHOOK_RETRY_SECONDS", ["10", "30", "120", "600", "3600"])]
except ValueError:
    raise ImproperlyConfigured("WEBHOOK_RETRY_SECONDS must be a comma list of whole seconds.") from None
if any(n < 0 for n in WEBHOOK_RETRY_SECONDS):
    raise ImproperlyConfigured("WEBHOOK_RETRY_SECONDS must not hold negative waits.")
# The portal's own address (https://portal.example.com), for the request links webhooks carry;
# empty sends the path alone.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "").rstrip("/")

# Web security (SWG) events are read from the API 2.0 event stream (/siem/v1/batch/events/cg) with
# these event types (comma separated). No public Mimecast reference names a web security type:
# "web security" is an assumption (the simulator serves it); set the name your tenant's stream uses.
# A type Mimecast refuses shows on the web security page and in "Test connection".
WEB_SECURITY_EVENT_TYPES = env_list("WEB_SECURITY_EVENT_TYPES", ["web security"])
if not WEB_SECURITY_EVENT_TYPES or not all(
    len(t) <= 64 and t.isascii() and t.replace(" ", "").replace("-", "").replace("_", "").isalnum()
    for t in WEB_SECURITY_EVENT_TYPES
):
    raise ImproperlyConfigured(
        "WEB_SECURITY_EVENT_TYPES must name at least one event type (letters, digits, spaces, - and _)."
    )

# Celery beat: entry name -> (task name after "investigations.tasks.", every how many seconds).
_PERIODIC_TASKS = {
    "audit-checkpoint": ("audit_write_checkpoint", env_int("AUDIT_CHECKPOINT_INTERVAL", 300, minimum=10)),
    # Web security events come from the API 2.0 event stream into a local, searchable table.
    "web-security-ingest": ("web_security_ingest", env_int("WEB_SECURITY_INGEST_INTERVAL", 300, minimum=60)),
    "remediation-expire": ("remediation_expire_due", env_int("REMEDIATION_EXPIRE_SWEEP_SECONDS", 60, minimum=1)),
    "remediation-outbox-sweep": ("remediation_sweep", env_int("REMEDIATION_SWEEP_SECONDS", 30, minimum=1)),
    "remediation-poll": ("remediation_poll_due", REMEDIATION_POLL_INTERVAL_SECONDS),
    # Deliveries whose retry is due, or whose task message was lost, are published again.
    "webhook-sweep": ("webhook_sweep", env_int("WEBHOOK_SWEEP_SECONDS", 10, minimum=1)),
}
CELERY_BEAT_SCHEDULE = {
    entry: {"task": f"investigations.tasks.{task}", "schedule": seconds}
    for entry, (task, seconds) in _PERIODIC_TASKS.items()
}
