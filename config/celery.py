"""The Celery application. The broker comes from settings; nothing connects at import time.
Like manage.py and WSGI it defaults to the production settings."""

from celery import Celery

from config.env import settings_module_default

settings_module_default()

app = Celery("concord")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app's tasks.py, and those of consistency's sub-packages (one per job).
app.autodiscover_tasks(["projects", "labeling", "consistency.agreement", "consistency.releases"])
# Every worker sweeps the background jobs (core.jobs.worker): on start, after each reconnection to
# the broker and periodically. Named by path, so nothing is imported before Django is set up.
app.steps["consumer"].add("core.jobs.worker:JobSweeper")
