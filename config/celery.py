"""The Celery application. The broker comes from settings; nothing connects at import time.
Like manage.py and WSGI it defaults to the production settings."""

from celery import Celery

from config.env import settings_module_default

settings_module_default()

app = Celery("concord")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app's tasks.py, and those of consistency's sub-packages (one per job).
app.autodiscover_tasks(["projects", "labeling", "consistency.agreement", "consistency.releases"])
