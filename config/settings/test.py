"""Test settings: the database from DATABASE_URL (PostgreSQL in CI) or SQLite, fast hashing,
and Celery tasks run inline unless a test starts a real worker."""

import os
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

SECRET_KEY = "test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_TASK_EAGER_PROPAGATES = True
# Eager tasks ignore the debounce, so automatic reports would run on every submit in the
# transactional tests; the tests that need them turn them on.
CONCORD_AGREEMENT_AUTO_REFRESH = False
# No test is slowed or failed by a limit it is not about: the throttle tests set their own.
CONCORD_API_THROTTLE_RATES = dict.fromkeys(CONCORD_API_THROTTLE_RATES, "1000000/min")  # noqa: F405
AXES_FAILURE_LIMIT = 1000
# Tests never write into the checkout's var/ (each test gets its own private folder as well: the
# private_storage fixture in tests/conftest.py).
_TEST_FILES = Path(tempfile.gettempdir()) / "concord-tests"
# A Celery worker a test starts is told the test's own folder (PRIVATE_STORAGE_ROOT).
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT") or _TEST_FILES / "private")
STATIC_ROOT = _TEST_FILES / "staticfiles"
STORAGES = {  # noqa: F405
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_STORAGE_ROOT},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
os.makedirs(PRIVATE_STORAGE_ROOT, exist_ok=True)
os.makedirs(STATIC_ROOT, exist_ok=True)  # WhiteNoise warns when it is missing
