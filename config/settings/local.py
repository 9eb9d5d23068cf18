"""Local and demo settings: SQLite under var/, the filesystem broker, DEBUG on."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import CELERY_BROKER_TRANSPORT_OPTIONS, STATIC_ROOT, env_bool, env_list

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY") or "local-development-only-not-a-secret"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

for _key in ("data_folder_in", "processed_folder", "control_folder"):
    if _key in CELERY_BROKER_TRANSPORT_OPTIONS:
        os.makedirs(CELERY_BROKER_TRANSPORT_OPTIONS[_key], exist_ok=True)

os.makedirs(STATIC_ROOT, exist_ok=True)  # WhiteNoise warns when it is missing
