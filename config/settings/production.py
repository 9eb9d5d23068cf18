"""Production settings, the default of every entry point. They fail closed: no default secret key
or hosts (Concord refuses to start without them), DEBUG off, HTTPS-only cookies and HSTS.

Variables come from the environment, and from a `.env` file (config.env) for those not set there."""

import os

from django.core.exceptions import ImproperlyConfigured

from config.env import env_file_load

# Before base reads the environment.
ENV_FILE = env_file_load()

from config.settings.base import *  # noqa: E402, F403
from config.settings.base import env_bool, env_int, env_list  # noqa: E402

_WHERE = "Set it in the environment or in .env (see .env.example); to try Concord locally, run `make demo`."
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Production settings (config.settings.production, the default) need a "
        f"random string of at least 50 characters. {_WHERE}"
    )
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        f"SECRET_KEY is too weak: use a random string of at least 50 characters. {_WHERE}"
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. List the host names Concord is served on, comma-separated "
        f"(e.g. ALLOWED_HOSTS=concord.example.org). {_WHERE}"
    )
DEBUG = env_bool("DEBUG", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
STORAGES = {  # noqa: F405
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
