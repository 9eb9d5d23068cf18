"""Integration: real Celery workers on Redis and the PostgreSQL test database.

- A worker killed with SIGKILL mid-import (an outside audit saw the job say "running 82%" for
  good): the next worker to start finds the job's process gone, runs it again from the start,
  and the import ends with every row once.
- Jobs asked for while the broker was unreachable (the requests answered 500 before): they wait in
  the database, and the first worker to connect sends and runs them.
"""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from consistency.agreement.models import AgreementReport
from consistency.agreement.services import agreement_report_request
from consistency.releases.models import DatasetRelease
from consistency.releases.services import release_create
from labeling.models import ConsensusLabel
from projects.services.imports import import_batch_create

from .factories import AnnotationFactory, ExampleFactory, LabelFactory, ProjectFactory, UserFactory
from .test_celery_worker import redis_broker_or_skip

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


class Workers:
    """Starts Celery workers (prefork, one child) in their own process groups, so a test can kill
    one with its children at once, as an out-of-memory killer or `kill -9` would."""

    def __init__(self, tmp_path, private_storage):
        broker = redis_broker_or_skip()
        db = connection.settings_dict
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_BROKER_URL": broker,
            "DATABASE_URL": f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}",
            "PRIVATE_STORAGE_ROOT": str(private_storage),
            "CONCORD_JOB_HEARTBEAT_SECONDS": "1",
            "CONCORD_JOB_STALE_SECONDS": "5",
            "CONCORD_JOB_SWEEP_SECONDS": "2",
        }
        self.env.pop("CELERY_BROKER_WRITE_URL", None)
        self.tmp_path = tmp_path
        self.running: list[subprocess.Popen] = []
        celery_app.control.purge()

    def start(self, name: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 - the process writes it until it ends
        hostname = f"--hostname={name}-{os.getpid()}@%h"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
             "--without-gossip", "--without-mingle", "--loglevel=INFO", hostname],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.running.append(process)
        deadline = time.monotonic() + 60
        while not any(f"{name}-{os.getpid()}@" in reply_host for reply in celery_app.control.ping(timeout=1)
                      for reply_host in reply):  # fmt: skip
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker {name} did not start:\n" + self.log(name))
        return process

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def workers(tmp_path, private_storage):
    started = Workers(tmp_path, private_storage)
    yield started
    started.stop_all()


def wait_for(check, *, seconds: float, what: str, logs=lambda: ""):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}\n{logs()}")
        time.sleep(0.1)


def test_an_import_killed_with_sigkill_is_run_again_by_the_next_worker(workers, tmp_path):
    project = ProjectFactory(slug="killed-import")
    rows = 400_000
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "channel"])
        writer.writerows((f"k-{i}", f"Message {i} about a charge on my card that I do not know", "email")
                         for i in range(rows))  # fmt: skip
    first = workers.start("first")

    celery_app.conf.task_always_eager = False
    try:
        batch = import_batch_create(project=project, user=UserFactory(), uploaded_file_or_path=str(path),
                                    source_name="big.csv")  # fmt: skip
    finally:
        celery_app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER

    def reading():
        batch.refresh_from_db()
        return batch.status == "running" and batch.rows_read > 0

    wait_for(reading, seconds=120, what="the import to start reading", logs=lambda: workers.log("first"))
    workers.kill(first)
    batch.refresh_from_db()
    assert batch.status == "running"  # what the audit saw, and nothing was written: all or nothing
    assert not project.examples.exists()

    workers.start("second")

    def finished():
        batch.refresh_from_db()
        return batch.is_finished

    wait_for(finished, seconds=300, what="the import to end", logs=lambda: workers.log("second"))
    assert batch.status == "succeeded", (batch.error, batch.errors)
    assert batch.attempts == 2
    assert batch.rows_created == rows
    assert project.examples.count() == rows
    assert not (Path(settings.PRIVATE_STORAGE_ROOT) / batch.stored_file).is_file()


def test_jobs_asked_for_while_the_broker_was_down_run_once_a_worker_connects(workers, broker_unreachable):
    project = ProjectFactory(slug="broker-down")
    bug = LabelFactory(project=project, name="bug", shortcut_key="1")
    raters = [UserFactory(username=f"down-{n}") for n in range(2)]
    for n in range(3):
        example = ExampleFactory(project=project, external_id=f"d{n}")
        for rater in raters:
            AnnotationFactory(example=example, rater=rater, label=bug)
        ConsensusLabel.objects.create(
            example=example,
            label=bug,
            source="unanimous",
            agreement=1.0,
            n_raters=2,
            decided_at=timezone.now(),
        )

    release = release_create(project=project, user=None, tag="v1")
    report = agreement_report_request(project=project, user=None)
    for job in (release, report):
        job.refresh_from_db()
        assert job.state == "queued"
        assert job.enqueued_at is None
        assert "job queue cannot be reached" in job.progress_text

    broker_unreachable.restore()
    workers.start("after-the-outage")

    def done():
        return (
            DatasetRelease.objects.get(pk=release.pk).is_finished
            and AgreementReport.objects.get(pk=report.pk).is_finished
        )

    wait_for(done, seconds=120, what="both jobs to end", logs=lambda: workers.log("after-the-outage"))
    release.refresh_from_db()
    report.refresh_from_db()
    assert (release.status, release.n_items) == ("ready", 3)
    assert (report.status, report.n_annotations) == ("succeeded", 6)
