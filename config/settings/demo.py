"""The demo (`make demo`): the local settings as a visitor should see Concord. DEBUG is off, so an
unknown URL or an error shows Concord's own pages, not Django's debug pages; WhiteNoise serves the
static files straight from their folders, so there is no collectstatic step."""

from config.settings.base import env_bool
from config.settings.local import *  # noqa: F403

DEBUG = env_bool("DEBUG", False)
WHITENOISE_USE_FINDERS = True
