"""Batchworks settings: one module; every difference between deployments comes from the
environment (see the configuration table in README.md)."""

import base64
import os
import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import StrictEnv

BASE_DIR = Path(__file__).resolve().parent.parent
env = StrictEnv()

# Everything the embedded default writes (SQLite file, uploads, collected static files,
# generated secret key) lives under one directory, so a deployment backs up one place.
DATA_DIR = Path(env.str("BATCHWORKS_DATA_DIR", default=str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _persisted_secret_key(path: Path, make=lambda: secrets.token_urlsafe(64)) -> str:
    """A strong key made once and kept beside the data, so the embedded default needs no
    set-up and sessions survive restarts. Production sets SECRET_KEY instead."""
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


# A deployment may keep its configuration in a .env file instead: processes started by cron
# (see CRONJOBS) read it too, since cron passes them no environment of ours.
ENV_FILE = Path(env.str("BATCHWORKS_ENV_FILE", default=str(BASE_DIR / ".env")))
env.read_env(str(ENV_FILE))

SECRET_KEY = env.str("SECRET_KEY", default="") or _persisted_secret_key(DATA_DIR / "secret_key")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind TLS (the production profile): redirect plain HTTP, send HSTS, and never let the
# session or CSRF cookie travel unencrypted.
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=False)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
if env.bool("BEHIND_TLS_PROXY", default=False):
    # Only safe when the proxy overwrites this header on every request.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "django_rq",
    "django_tasks_rq",
    "django_crontab",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "apps.core",
    "apps.accounts",
    "apps.plugins",
    "apps.scheduling",
    "apps.runner",
    "apps.ingestion",
    "apps.transfers",
    "apps.feeds",
    "apps.alerts",
    "apps.audit",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.RefuseUnstorableText",
    "apps.audit.context.RecordRequests",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

# django-axes counts failed logins (console and admin) by username and address together,
# so that someone guessing cannot lock the real user out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("BATCHWORKS_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("BATCHWORKS_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.accounts.views.locked_out"

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
                "apps.core.console.workspace_context",
            ],
            "builtins": ["apps.core.templatetags.console"],  # {% moment %}, {% status %}
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'batchworks.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web, the worker and the scheduler share one file: WAL lets readers run beside
    # the writer, IMMEDIATE transactions take the write lock up front instead of failing
    # half-way, and the timeout makes a busy writer a short wait rather than an error.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

REDIS_URL = env.str("REDIS_URL", default="")

# SECRET properties are encrypted with these Fernet keys (comma-separated): the first
# encrypts, every one decrypts, so a new key goes first and the old one stays until
# `manage.py rotate_secrets` has re-encrypted everything (see README, Secrets). The embedded
# default makes one under the data folder.
SECRETS_KEYS = env.list("BATCHWORKS_SECRETS_KEYS", default=[]) or [
    _persisted_secret_key(
        DATA_DIR / "secrets_key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode()
    )
]

# Shared by every web process (API rate limits, login attempts): Redis when there is one,
# else files under the data folder, which the processes of one machine share.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
    }
}
# API calls per caller (token, person or running execution), and batch creations: the
# ingestion docs' figure. "N/second", "N/minute", "N/hour" or "N/day".
API_RATE = env.str("BATCHWORKS_API_RATE", default="3000/minute")
BATCH_CREATION_RATE = env.str("BATCHWORKS_BATCH_CREATION_RATE", default="2000/minute")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = DATA_DIR / "media"
# What the product stores — versions' code, batch files and chunks, staged data, export
# files — lives under MEDIA_ROOT (the embedded default, one machine) or, with a bucket
# named, in S3-compatible object storage that every web and worker host shares.
S3_BUCKET = env.str("BATCHWORKS_S3_BUCKET", default="")
S3_OPTIONS = {
    "bucket_name": S3_BUCKET,
    "endpoint_url": env.str("BATCHWORKS_S3_ENDPOINT_URL", default="") or None,  # not AWS
    "region_name": env.str("BATCHWORKS_S3_REGION", default="us-east-1"),
    # Unset: boto3's own chain (AWS_* variables, the instance's role).
    "access_key": env.str("BATCHWORKS_S3_ACCESS_KEY_ID", default="") or None,
    "secret_key": env.str("BATCHWORKS_S3_SECRET_ACCESS_KEY", default="") or None,
    "location": env.str("BATCHWORKS_S3_PREFIX", default="").strip("/"),
    # Most S3-compatible servers want bucket names in the path, not the host name.
    "addressing_style": env.str("BATCHWORKS_S3_ADDRESSING_STYLE", default="path"),
    "signature_version": "s3v4",
    "file_overwrite": False,  # names are unique anyway; never replace what is there
    "default_acl": None,  # the bucket's own policy; nothing is public
    "querystring_expire": 3600,  # presigned download links: an hour at most
}
if S3_BUCKET:
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    # A bucket out of reach is said within seconds (to /healthz too), not after minutes.
    S3_OPTIONS["client_config"] = Config(
        connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
    )

    # An upload from a stream (a request body, chunks being joined) holds at most a few
    # parts of 8 MiB in memory: two in flight, one being read.
    S3_OPTIONS["transfer_config"] = TransferConfig(
        multipart_threshold=8 * 2**20, multipart_chunksize=8 * 2**20, max_concurrency=2
    )
STORAGES = {
    "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_OPTIONS}
    if S3_BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploads above this size stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Batchworks --------------------------------------------------------------------------

# A plugin's code is one .py file or one .zip package of at most this many bytes.
PLUGIN_ARTIFACT_MAX_BYTES = env.int("BATCHWORKS_PLUGIN_ARTIFACT_MAX_BYTES", default=10 * 2**20)
# A .zip package may not expand past this (a small zip can hide a huge payload).
PLUGIN_ARTIFACT_MAX_UNZIPPED_BYTES = env.int(
    "BATCHWORKS_PLUGIN_ARTIFACT_MAX_UNZIPPED_BYTES", default=100 * 2**20
)
# A MANUAL execution "now" sent by a client whose clock runs a little behind is still now.
MANUAL_EXECUTION_PAST_TOLERANCE_SECONDS = env.int(
    "BATCHWORKS_MANUAL_EXECUTION_PAST_TOLERANCE_SECONDS", default=60
)
# A backfill creates at most this many runs at once (one per past fire time).
BACKFILL_MAX_RUNS = env.int("BATCHWORKS_BACKFILL_MAX_RUNS", default=1000)
# Admin changelists count at most this many rows: past it they say "more than N" rather
# than scanning a huge table on every page view.
ADMIN_COUNT_LIMIT = env.int("BATCHWORKS_ADMIN_COUNT_LIMIT", default=10_000)

# How often the console's live parts (a run's status and log, a batch loading) ask again.
CONSOLE_POLL_SECONDS = env.float("BATCHWORKS_CONSOLE_POLL_SECONDS", default=2)

# --- REST API (/v1) -------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browsable API
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.api.throttles.CallerRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Batchworks API",
    "DESCRIPTION": (
        "Plugins, versions, integration batch instances and their executions. Send your API "
        'token as `Authorization: <token>`. Answers are `{"status": "ok", "data": …}`; '
        'errors `{"status": "error", "error": …, "error_code": …, "fields": …}`. Ids '
        "are strings, dates epoch milliseconds. No text may hold a NUL character (U+0000) "
        "or a lone surrogate, which cannot be stored: such a request is a 400."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: no CDN needed
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The sidecar's Redoc, vendored without its one CDN request (static/vendor/redoc-*).
    "REDOC_DIST": f"/{STATIC_URL.strip('/')}/vendor/redoc-2.5.4",
    # System fonts: Redoc's own are fetched from Google, which an offline install cannot.
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif"},
            }
        }
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ResourceSizeEnum": "apps.scheduling.models.ResourceSize",
        "ExecutionStatusEnum": "apps.scheduling.models.ExecutionStatus",
        "RoleEnum": "apps.accounts.models.Role",
        # An instance's cron_status and a feed's status share ACTIVE | PAUSED.
        "CronStatusEnum": "apps.scheduling.models.CronStatus",
        "SetupStatusEnum": "apps.feeds.models.SetupStatus",
        "FeedBatchStatusEnum": "apps.feeds.models.BatchStatus",
        "ChannelKindEnum": "apps.alerts.models.ChannelKind",
        "AlertKindEnum": "apps.alerts.models.AlertKind",
        "TransferKindEnum": "apps.transfers.models.TransferKind",
        "DeliveryStatusEnum": "apps.alerts.models.DeliveryStatus",
        "OkEnum": ["ok"],
        "CancelEnum": ["CANCELED"],
    },
    "PREPROCESSING_HOOKS": ["apps.core.api.schema.only_v1"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.schema.add_error_responses",
        "apps.core.api.schema.describe_request_bodies",
        "apps.plugins.serializers.describe_property_values",
    ],
}
# Lists answer at most this many items per page, from at most this far in.
API_MAX_RESULTS = env.int("BATCHWORKS_API_MAX_RESULTS", default=1000)
API_MAX_FIRST_RESULT = env.int("BATCHWORKS_API_MAX_FIRST_RESULT", default=100_000)
# A list's `count` counts matching rows up to this, not a whole huge table.
API_COUNT_LIMIT = env.int("BATCHWORKS_API_COUNT_LIMIT", default=10_000)

# --- Tasks: how executions reach workers -------------------------------------------------

# "database": django-tasks-db and `manage.py db_worker`, on the one database (the
# embedded default). "rq": Redis at REDIS_URL and RQ workers (apps.runner.rq),
# for workers on several machines. The code is the same; only this setting differs.
TASKS_BACKEND = env.str("BATCHWORKS_TASKS_BACKEND", default="database")
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
}
if TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(
        f"BATCHWORKS_TASKS_BACKEND must be one of {', '.join(_TASK_BACKENDS)}, "
        f"not {TASKS_BACKEND!r}"
    )
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASKS_BACKEND], "QUEUES": ["default"]}}
RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL or "redis://127.0.0.1:6379/0",
        # The runner enforces each instance's own timeout; RQ must not kill a run first.
        "DEFAULT_TIMEOUT": 8 * 24 * 3600,
    }
}

# --- Scheduling and running ----------------------------------------------------------------

# django-crontab: `manage.py crontab add` installs these in the user's crontab.
CRONJOBS = [
    ("* * * * *", "apps.scheduling.jobs.tick"),
    ("* * * * *", "apps.scheduling.jobs.reap"),
    ("* * * * *", "apps.ingestion.jobs.reap"),
    ("* * * * *", "apps.transfers.jobs.reap"),
    ("* * * * *", "apps.feeds.jobs.reap"),
    ("* * * * *", "apps.alerts.jobs.watch"),
    ("23 * * * *", "apps.transfers.jobs.remove_expired_files"),
    ("41 * * * *", "apps.scheduling.jobs.clean_up"),
    ("17 3 * * *", "apps.scheduling.jobs.prune_task_results"),
]
CRONTAB_LOCK_JOBS = True  # a tick still running when the next minute comes is not doubled
CRONTAB_COMMENT = "batchworks"  # how `crontab remove` recognises our lines
CRONTAB_COMMAND_SUFFIX = f">> {DATA_DIR / 'cron.log'} 2>&1"

# /metrics (Prometheus) answers only a scrape that sends this as its bearer token; off
# when empty.
METRICS_TOKEN = env.str("BATCHWORKS_METRICS_TOKEN", default="")
# How often an idle worker looks for tasks (db_worker), and for due runs where no
# PostgreSQL wakes it (apps/runner/wakeups.py): a run or a task due at a given time
# starts at most this late. Each look is one indexed query.
WORKER_POLL_SECONDS = env.float("BATCHWORKS_WORKER_POLL_SECONDS", default=0.1)
# How often `run_scheduler` ticks; cron ticks every minute.
SCHEDULER_INTERVAL_SECONDS = env.float("BATCHWORKS_SCHEDULER_INTERVAL_SECONDS", default=5)
# A completed batch (a transfer job, a feed) no worker took this long after its hand-over
# has its task looked up: handed over again if the queue lost it, or if a worker took it
# and died before claiming it; left alone if it is only waiting behind others.
REDISPATCH_AFTER_SECONDS = env.int("BATCHWORKS_REDISPATCH_AFTER_SECONDS", default=300)
# A worker holding a row (a running execution, a staging batch: apps/core/leases.py)
# proves it is alive this often...
LEASE_HEARTBEAT_SECONDS = env.float(
    "BATCHWORKS_LEASE_HEARTBEAT_SECONDS",
    default=env.float("BATCHWORKS_EXECUTION_HEARTBEAT_SECONDS", default=5),  # its old name
)
# ...and the row is reaped (failed, retried) as "worker lost" after this long without one.
LEASE_TIMEOUT_SECONDS = env.float(
    "BATCHWORKS_LEASE_TIMEOUT_SECONDS",
    default=env.float("BATCHWORKS_EXECUTION_HEARTBEAT_TIMEOUT_SECONDS", default=60),
)
# A run asked to stop (cancel, timeout) gets SIGTERM, then SIGKILL this much later.
EXECUTION_STOP_GRACE_SECONDS = env.float("BATCHWORKS_EXECUTION_STOP_GRACE_SECONDS", default=10)
EXECUTION_LOG_MAX_CHARS = env.int("BATCHWORKS_EXECUTION_LOG_MAX_CHARS", default=5_000_000)
# Each run gets a fresh folder here for its code and scratch files, removed afterwards.
EXECUTION_WORK_DIR = Path(env.str("BATCHWORKS_EXECUTION_WORK_DIR", default=str(DATA_DIR / "runs")))
# "required": a worker runs plugin code only where the kernel can confine it (see
# apps/runner/isolation.py); "best-effort": with what the kernel offers, and a warning.
# Production (PostgreSQL) requires it unless an operator opts out; the embedded SQLite
# default, a laptop's, does its best.
PLUGIN_ISOLATION = env.str(
    "BATCHWORKS_PLUGIN_ISOLATION",
    default="best-effort" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "required",
)
if PLUGIN_ISOLATION not in ("required", "best-effort"):
    raise ImproperlyConfigured(
        f"BATCHWORKS_PLUGIN_ISOLATION must be required or best-effort, not {PLUGIN_ISOLATION!r}"
    )

# What each size means. JSON in BATCHWORKS_RESOURCE_LIMITS overrides any entry, e.g.
# {"ram_size": {"LOW": 268435456}}.
RESOURCE_LIMITS = {
    "ram_size": {"LOW": 512 * 2**20, "MEDIUM": 2**30, "LARGE": 2 * 2**30, "EXTRA_LARGE": 4 * 2**30},
    "cpu_size": {"LOW": 1, "MEDIUM": 2, "LARGE": 4, "EXTRA_LARGE": 8},
    "disk_size": {
        "LOW": 2**30,
        "MEDIUM": 5 * 2**30,
        "LARGE": 20 * 2**30,
        "EXTRA_LARGE": 100 * 2**30,
    },
}
for _size, _values in env.json("BATCHWORKS_RESOURCE_LIMITS", default={}).items():
    if _size not in RESOURCE_LIMITS or not set(_values) <= set(RESOURCE_LIMITS[_size]):
        raise ImproperlyConfigured(
            f"BATCHWORKS_RESOURCE_LIMITS: unknown size {_size!r} or level in {_values!r}"
        )
    RESOURCE_LIMITS[_size].update(_values)

# --- Batch ingestion -------------------------------------------------------------------------

# The batch ingestion docs' limits.
INGESTION_MAX_FILES_PER_BATCH = env.int("BATCHWORKS_INGESTION_MAX_FILES_PER_BATCH", default=1500)
INGESTION_MAX_BATCH_BYTES = env.int("BATCHWORKS_INGESTION_MAX_BATCH_BYTES", default=100 * 2**30)
INGESTION_MAX_SMALL_FILE_BYTES = env.int(
    "BATCHWORKS_INGESTION_MAX_SMALL_FILE_BYTES", default=512 * 2**20
)
INGESTION_MAX_FIELDS_PER_ROW = env.int("BATCHWORKS_INGESTION_MAX_FIELDS_PER_ROW", default=10_000)
# A batch still loading this long after its creation is abandoned.
INGESTION_ABANDON_AFTER_SECONDS = env.int(
    "BATCHWORKS_INGESTION_ABANDON_AFTER_SECONDS", default=24 * 3600
)
# Processing that meets a transient error (storage, database) is retried this many times,
# after a back-off that doubles; then the batch is stalled.
INGESTION_MAX_ATTEMPTS = env.int("BATCHWORKS_INGESTION_MAX_ATTEMPTS", default=4)
INGESTION_RETRY_BACKOFF_SECONDS = env.int("BATCHWORKS_INGESTION_RETRY_BACKOFF_SECONDS", default=30)
# An upload silent this long (no bytes arrived) lost its uploader: it no longer stops its
# batch from being completed, and what it wrote is removed.
INGESTION_UPLOAD_SILENT_SECONDS = env.int("BATCHWORKS_INGESTION_UPLOAD_SILENT_SECONDS", default=60)
# A failed batch lists this many errors, and counts the rest.
INGESTION_MAX_ERRORS_LISTED = env.int("BATCHWORKS_INGESTION_MAX_ERRORS_LISTED", default=100)
# --- Import and export jobs ------------------------------------------------------------------

# An import's file holds at most this many bytes.
TRANSFER_MAX_IMPORT_BYTES = env.int("BATCHWORKS_TRANSFER_MAX_IMPORT_BYTES", default=2 * 2**30)
# An export's result is split into files of about this many bytes.
TRANSFER_EXPORT_FILE_BYTES = env.int("BATCHWORKS_TRANSFER_EXPORT_FILE_BYTES", default=256 * 2**20)
# An export's download links expire this many days after it completed; its files go then.
TRANSFER_LINK_DAYS = env.int("BATCHWORKS_TRANSFER_LINK_DAYS", default=7)
# An export's SQL query (and the whole of an export or merge) runs at most this long, in
# at most this much memory (DuckDB spills to disk past it).
TRANSFER_QUERY_SECONDS = env.int("BATCHWORKS_TRANSFER_QUERY_SECONDS", default=1800)
TRANSFER_QUERY_MEMORY_BYTES = env.int("BATCHWORKS_TRANSFER_QUERY_MEMORY_BYTES", default=256 * 2**20)
TRANSFER_QUERY_THREADS = env.int("BATCHWORKS_TRANSFER_QUERY_THREADS", default=2)
# A job meeting a transient error (storage, database) is retried this many times, after a
# back-off that doubles; then it is Failed.
TRANSFER_MAX_ATTEMPTS = env.int("BATCHWORKS_TRANSFER_MAX_ATTEMPTS", default=4)
TRANSFER_RETRY_BACKOFF_SECONDS = env.int("BATCHWORKS_TRANSFER_RETRY_BACKOFF_SECONDS", default=30)
# Each job attempt gets a scratch folder here, removed afterwards.
TRANSFER_WORK_DIR = Path(
    env.str("BATCHWORKS_TRANSFER_WORK_DIR", default=str(DATA_DIR / "transfers"))
)

# --- External feeds ----------------------------------------------------------------------------

# A buffer is flushed as a batch at its version's batch_flush_max_size lines, and also when
# its oldest line has waited this long: a small segment's updates still arrive.
FEED_FLUSH_INTERVAL_SECONDS = env.float("BATCHWORKS_FEED_FLUSH_INTERVAL_SECONDS", default=60)
# One call of a feed's plugin code (a chunk of updates, a batch) answers within this, or its
# process is restarted and the call fails. Keep it under BATCHWORKS_LEASE_TIMEOUT_SECONDS.
FEED_CALL_TIMEOUT_SECONDS = env.float("BATCHWORKS_FEED_CALL_TIMEOUT_SECONDS", default=30)
# Updates handed to on_user_segment_update per call of the warm process.
FEED_UPDATES_PER_CALL = env.int("BATCHWORKS_FEED_UPDATES_PER_CALL", default=1000)
# A RETRY (of a batch or an update) waits next_msg_delay_in_ms, or this doubling back-off;
# after this many attempts the batch (or update) fails.
FEED_RETRY_BACKOFF_SECONDS = env.float("BATCHWORKS_FEED_RETRY_BACKOFF_SECONDS", default=5)
FEED_MAX_ATTEMPTS = env.int("BATCHWORKS_FEED_MAX_ATTEMPTS", default=8)
# A worker's turn on one feed lasts at most this long before it lets other work in.
FEED_TURN_SECONDS = env.float("BATCHWORKS_FEED_TURN_SECONDS", default=30)
# A worker stops a feed's warm process after it has not been called for this long.
FEED_PROCESS_IDLE_SECONDS = env.float("BATCHWORKS_FEED_PROCESS_IDLE_SECONDS", default=300)
# ...and keeps at most this many up (each is a Python process of its own).
FEED_MAX_WARM_PROCESSES = env.int("BATCHWORKS_FEED_MAX_WARM_PROCESSES", default=8)
# One POST of user_segment_updates carries at most this many updates.
FEED_MAX_UPDATES_PER_REQUEST = env.int("BATCHWORKS_FEED_MAX_UPDATES_PER_REQUEST", default=10_000)
FEED_MAX_REQUEST_BYTES = env.int("BATCHWORKS_FEED_MAX_REQUEST_BYTES", default=16 * 2**20)

# Alerts: a delivery that fails is tried again after ALERT_RETRY_SECONDS, doubling, until
# this many attempts have failed; a webhook gets this long to answer.
ALERT_DELIVERY_ATTEMPTS = env.int("BATCHWORKS_ALERT_DELIVERY_ATTEMPTS", default=5)
ALERT_RETRY_SECONDS = env.float("BATCHWORKS_ALERT_RETRY_SECONDS", default=30)
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("BATCHWORKS_ALERT_WEBHOOK_TIMEOUT_SECONDS", default=10)

# --- E-mail ----------------------------------------------------------------------------------

# Where notification e-mails go: the SMTP server BATCHWORKS_EMAIL_URL names, or by default
# files in var/mail, one per message, for a new user to read.
MAILERS = {
    "default": env.smtp_mailer(
        "BATCHWORKS_EMAIL_URL", timeout=env.int("BATCHWORKS_EMAIL_TIMEOUT_SECONDS", default=30)
    )
    or {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": DATA_DIR / "mail"},
    }
}
DEFAULT_FROM_EMAIL = env.str("BATCHWORKS_EMAIL_FROM", default="Batchworks <batchworks@localhost>")

# Where plugin code reaches this platform's API (the SDK's ingestion client).
BATCHWORKS_API_URL = env.str("BATCHWORKS_API_URL", default="http://127.0.0.1:8000")
# Where people reach it: the start of the links in e-mails and in export job answers made
# outside a request (a management command's).
BATCHWORKS_PUBLIC_URL = env.str("BATCHWORKS_PUBLIC_URL", default=BATCHWORKS_API_URL)
