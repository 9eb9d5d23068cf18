"""Integration: an upload queues the import on commit, and a real Celery worker process,
talking to Redis and to the same PostgreSQL test database, carries it out."""

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from projects.models import ImportBatch
from projects.services.imports import import_batch_create

from .conftest import skip_or_fail
from .factories import ProjectFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def redis_broker_or_skip() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        skip_or_fail("needs CELERY_BROKER_URL=redis://... for the real worker test")
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the broker means "no Redis"
        skip_or_fail(f"Redis at {url} is not reachable: {exc}")
    return url


@pytest.fixture
def worker(tmp_path, private_storage):
    broker = redis_broker_or_skip()
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": broker,
        # The worker must use the test database this test writes to.
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}",
        "PRIVATE_STORAGE_ROOT": str(private_storage),
    }
    celery_app.control.purge()
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed in the teardown below
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1",
         "--without-gossip", "--without-mingle", "--loglevel=INFO", f"--hostname=test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Celery worker did not start:\n" + (tmp_path / "worker.log").read_text())
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_a_real_worker_imports_an_uploaded_file(worker, tmp_path):
    project = ProjectFactory(slug="worker-test")
    manager = UserFactory(username="worker-manager")
    path = tmp_path / "tickets.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "channel"])
        writer.writerows([f"w-{i}", f"Message {i} about my invoice", "email"] for i in range(2000))

    celery_app.conf.task_always_eager = False
    try:
        batch = import_batch_create(project=project, user=manager, uploaded_file_or_path=str(path),
                                    source_name="tickets.csv")  # fmt: skip
    finally:
        celery_app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER

    deadline = time.monotonic() + 120
    while True:
        batch.refresh_from_db()
        if batch.is_finished or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert batch.status == ImportBatch.Status.SUCCEEDED, (batch.status, batch.errors)
    assert batch.rows_created == 2000
    assert project.examples.count() == 2000
    assert project.examples.get(external_id="w-7").metadata == {"channel": "email"}
