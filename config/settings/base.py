"""Settings shared by every environment. Each value comes from an environment variable
documented in .env.example; the defaults here are the safe ones."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("CONCORD_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served from our own static files
    "axes",  # login throttling
    "core",
    "projects",
    "labeling",
    "consistency",
    "demo",
]

MIDDLEWARE = [
    "core.middleware.RequestBodyLimitMiddleware",  # first: nothing may read a body before it
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.NulInAddressMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.NoStoreMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.VaryOnHtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the login page's 429
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
                "core.notices.unread_notices",
            ],
        },
    },
]

# Embedded default: one SQLite file under var/. DATABASE_URL switches to PostgreSQL.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'concord.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the background worker writes; IMMEDIATE makes
    # writers queue on the lock instead of failing half-way through a transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    os.makedirs(VAR_DIR, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: a locked-out account or address is refused before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "core.sessions.AccountBackend",  # logins; the user's row read with one prepared statement
    "django.contrib.auth.backends.ModelBackend",  # only for sessions signed in before the one above
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Uploaded import files are private: they live outside STATIC_ROOT, no URL serves them,
# and they are deleted when their import job ends.
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", VAR_DIR / "private"))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_STORAGE_ROOT},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Request bodies are limited while they are read (core.request_limits): an upload URL takes one
# import file plus its form, every other URL at most CONCORD_REQUEST_MAX_BYTES.
CONCORD_REQUEST_MAX_BYTES = env_int("CONCORD_REQUEST_MAX_BYTES", 5 * 1024 * 1024)
CONCORD_UPLOAD_URL_NAMES = [
    "projects:import",
    "api:project_examples_import",
    "api:project_annotations_import",
    "api:project_gold_import",
    "api:project_predictions_import",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = CONCORD_REQUEST_MAX_BYTES
# Uploads above this size go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "core.request_limits.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Import limits (documented in the README).
CONCORD_IMPORT_MAX_FILE_BYTES = env_int("CONCORD_IMPORT_MAX_FILE_BYTES", 2 * 1024**3)
CONCORD_IMPORT_MAX_TEXT_CHARS = env_int("CONCORD_IMPORT_MAX_TEXT_CHARS", 20_000)
CONCORD_IMPORT_MAX_ID_CHARS = 255
# A ZIP of images or audio (projects.media_zip): limits on each file and on all files
# uncompressed, checked before and while reading, so a ZIP bomb is refused early.
CONCORD_MEDIA_MAX_FILE_BYTES = env_int("CONCORD_MEDIA_MAX_FILE_BYTES", 50 * 1024**2)
CONCORD_MEDIA_MAX_TOTAL_BYTES = env_int("CONCORD_MEDIA_MAX_TOTAL_BYTES", 20 * 1024**3)
CONCORD_MEDIA_MAX_FILES = env_int("CONCORD_MEDIA_MAX_FILES", 200_000)
CONCORD_IMPORT_MAX_METADATA_CHARS = env_int("CONCORD_IMPORT_MAX_METADATA_CHARS", 10_000)

# Who may create projects: "staff", "managers" (staff and whoever manages a project already) or
# "everyone" signed in. Adding people to a project needs staff rights whatever this says.
CONCORD_PROJECT_CREATORS = os.environ.get("CONCORD_PROJECT_CREATORS") or "managers"
if CONCORD_PROJECT_CREATORS not in ("staff", "managers", "everyone"):
    raise ImproperlyConfigured("CONCORD_PROJECT_CREATORS must be staff, managers or everyone.")

# Agreement reports are recomputed automatically this many seconds after new annotations
# arrive (one waiting report per project, whatever the number of annotations).
CONCORD_AGREEMENT_AUTO_REFRESH = env_bool("CONCORD_AGREEMENT_AUTO_REFRESH", True)
CONCORD_AGREEMENT_DEBOUNCE_SECONDS = env_int("CONCORD_AGREEMENT_DEBOUNCE_SECONDS", 60)

SESSION_ENGINE = "core.sessions"  # Django's database sessions, read with a prepared statement
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Background jobs (core.jobs). A running job's worker writes a heartbeat every HEARTBEAT seconds;
# a job silent for STALE seconds (or whose process is gone, on the same machine) lost its worker:
# the sweeper, run by every worker on start, after reconnecting to the broker and every SWEEP
# seconds, removes its leftovers and queues it again, up to MAX_ATTEMPTS runs, then fails it (a
# retry may be asked for RETRY_DAYS; a failed import keeps its file that long). Queued jobs the
# broker never took are sent by the sweeper, and sent again after RESEND seconds without a start.
CONCORD_JOB_HEARTBEAT_SECONDS = env_int("CONCORD_JOB_HEARTBEAT_SECONDS", 15)
CONCORD_JOB_STALE_SECONDS = env_int("CONCORD_JOB_STALE_SECONDS", 120)
CONCORD_JOB_SWEEP_SECONDS = env_int("CONCORD_JOB_SWEEP_SECONDS", 60)
CONCORD_JOB_MAX_ATTEMPTS = env_int("CONCORD_JOB_MAX_ATTEMPTS", 2)
CONCORD_JOB_RESEND_SECONDS = env_int("CONCORD_JOB_RESEND_SECONDS", 900)
CONCORD_JOB_RETRY_DAYS = env_int("CONCORD_JOB_RETRY_DAYS", 7)
if CONCORD_JOB_STALE_SECONDS < 3 * CONCORD_JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "CONCORD_JOB_STALE_SECONDS must be at least three heartbeats (CONCORD_JOB_HEARTBEAT_SECONDS), "
        "or a slow heartbeat would make a live job look dead."
    )
if CONCORD_JOB_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured("CONCORD_JOB_MAX_ATTEMPTS must be at least 1.")


def celery_transport_options(broker_url: str, *, var_dir: Path, longest_task_seconds: int) -> dict:
    """The broker's options. Redis gives an unacknowledged message to another worker after its
    visibility timeout: it must outlast the longest a task may run (its hard time limit, after any
    countdown), or a long job's message would be delivered twice while it runs. Timeouts bound how
    long a request waits for a broker that is down (the job then waits in the database)."""
    if broker_url == "filesystem://":
        queue_dir = var_dir / "celery"
        return {
            "data_folder_in": str(queue_dir / "queue"),
            "data_folder_out": str(queue_dir / "queue"),
            "processed_folder": str(queue_dir / "processed"),
            "control_folder": str(queue_dir / "control"),
            "store_processed": False,
        }
    if broker_url.startswith(("redis://", "rediss://")):
        return {
            "visibility_timeout": longest_task_seconds + 600,
            "socket_connect_timeout": 3,
            "socket_timeout": 30,
        }
    return {}


# Celery. The embedded default is the filesystem transport under var/: no broker to install,
# jobs still run in a separate worker process. Production sets CELERY_BROKER_URL to Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3 * 3600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
# Jobs keep running when the worker loses the broker: their heartbeat keeps a redelivered message
# from starting them a second time.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A broker that is down fails a publish after one quick retry (the job waits in the database).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_TRANSPORT_OPTIONS = celery_transport_options(
    CELERY_BROKER_URL,
    var_dir=VAR_DIR,
    longest_task_seconds=CELERY_TASK_TIME_LIMIT + CONCORD_AGREEMENT_DEBOUNCE_SECONDS,
)

# Reverse proxies in front of Concord that append the client's address to X-Forwarded-For (1
# behind one nginx). 0 takes the socket's address, which behind a proxy is the proxy's: every
# client would then share one address for the login lockout and the API's per-address rate.
CONCORD_PROXY_COUNT = env_int("CONCORD_PROXY_COUNT", 0)

# Login throttling (django-axes, both the login page and the admin's): after this many failed
# logins within the cool-off, the account is locked whatever the address, and the address is
# locked whatever the account, until the cool-off has passed since the last attempt. Unlock early
# with `manage.py axes_reset_username NAME` or `axes_reset_ip ADDRESS`.
AXES_FAILURE_LIMIT = env_int("CONCORD_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CONCORD_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "core.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "core.throttling.login_lockout_response"
AXES_RESET_ON_SUCCESS = False  # a valid login elsewhere must not wipe an address's failures
AXES_VERBOSE = False


def env_rates(name: str, default: dict[str, str]) -> dict[str, str]:
    """`scope=rate,...` (rates as "100/min", "20/hour") over the defaults."""
    rates = dict(default)
    for item in env_list(name, []):
        scope, _, rate = item.partition("=")
        if not rate:
            raise ImproperlyConfigured(f"{name}: write scope=rate, such as user=600/min, not {item!r}")
        rates[scope.strip()] = rate.strip()
    return rates


# API rate limits (429 with Retry-After): every request per user (token or session) and per
# address; writes per user (labeling's next, submit, skip and undo under their own rate); and
# writes that queue background work, per view scope. The counts
# live in the cache: with several processes, set CACHE_URL to Redis so they share them.
CONCORD_API_THROTTLE_RATES = env_rates(
    "CONCORD_API_THROTTLE_RATES",
    {
        "user": "600/min",
        "address": "1200/min",
        "write": "60/min",
        "labeling": "600/min",
        "releases": "20/hour",
        "imports": "30/hour",
    },
)
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# REST API. Token authentication comes first so an anonymous request gets 401 with a
# WWW-Authenticate header; session authentication (CSRF enforced) serves the browser.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only: an endpoint that takes files (imports) names MultiPartParser itself, so a form
    # or a broken multipart body elsewhere is a 415, never an empty request that takes defaults.
    "DEFAULT_PARSER_CLASSES": ["core.api.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.PageNumberPagination",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.ApiRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Concord API",
    "DESCRIPTION": (
        "Create and configure projects (labels, members, guideline, review rules), import examples, "
        "label them (assignments/next, annotations), read agreement and disagreements, resolve them, "
        "cut and download releases. Authenticate with `Authorization: Bearer <token>` (create tokens at "
        "/account/tokens/) or with a logged-in browser session."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per set of choices: a job's state and an import's status are the same four words,
    # and a release keeps its own three.
    "ENUM_NAME_OVERRIDES": {
        "JobStateEnum": "core.jobs.models.JobState",
        "ReleaseStatusEnum": ["building", "ready", "failed"],
        "ImportFileFormatEnum": "projects.importing.FORMATS",
        # A project's task type (every one can be labeled, created and changed to).
        "TaskTypeEnum": "projects.models.TaskType",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_schema.add_error_responses",
    ],
}
# A token's last_used_at is written at most this often, not on every request.
CONCORD_API_TOKEN_TOUCH_SECONDS = 60

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Email (invitations, password resets). Without EMAIL_HOST messages are printed on the console
# (the demo and development); production sends through SMTP with the EMAIL_* variables.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Concord <concord@localhost>")
# An invitation link works once, for this many days; a password-reset link for PASSWORD_RESET_TIMEOUT.
CONCORD_INVITATION_DAYS = env_int("CONCORD_INVITATION_DAYS", 7)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)
