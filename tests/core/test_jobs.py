"""The one background-job mechanism (core.jobs), through agreement reports and imports: a job a
live worker runs is never run twice, a job whose worker died is taken over (at once when its process
is known gone, after the heartbeat goes stale otherwise), a run that lost its job cannot end it, the
heartbeat is written while a job is silent, the sweeper sends what the broker never took, and the
broker's visibility timeout outlasts the longest a task may run."""

import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from config.settings.base import celery_transport_options
from consistency.agreement.models import AgreementReport
from consistency.agreement.services import agreement_refresh_soon, agreement_report_run
from consistency.agreement.tasks import agreement_report_task
from core.jobs.services import (
    BROKER_DOWN_TEXT,
    job_claim,
    job_heartbeat,
    job_kind_get,
    job_succeed,
    jobs_sweep,
)
from core.jobs.worker import process_alive, process_identity
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent.parent
REPORTS = "agreement_report"


@pytest.fixture
def rated(project):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    labels = list(project.labels.all())
    for index in range(4):
        example = ExampleFactory(project=project)
        AnnotationFactory(example=example, rater=alice, label=labels[index % 4])
        AnnotationFactory(example=example, rater=bob, label=labels[index % 2])
    return project


def running_report(project, *, worker="", heartbeat_ago=None, attempts=1) -> AgreementReport:
    now = timezone.now()
    return AgreementReport.objects.create(
        project=project,
        status="running",
        started_at=now - timedelta(hours=1),
        heartbeat_at=None if heartbeat_ago is None else now - heartbeat_ago,
        worker=worker,
        attempts=attempts,
        progress_text="Per version",
    )


def dead_process_identity() -> str:
    """The identity a process on this machine had: it has exited since."""
    script = "from core.jobs.worker import process_identity; print(process_identity())"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_redelivered_message_never_runs_a_job_that_a_live_worker_runs(rated):
    alive = running_report(rated, worker=process_identity(), heartbeat_ago=timedelta(hours=2))
    silent_elsewhere = running_report(
        rated, worker="elsewhere/b00t/12/34", heartbeat_ago=timedelta(seconds=5)
    )

    assert agreement_report_run(report_id=alive.pk) is None  # its process runs: heartbeat or not
    assert agreement_report_run(report_id=silent_elsewhere.pk) is None  # heard from seconds ago
    assert set(AgreementReport.objects.values_list("status", flat=True)) == {"running"}


def test_a_job_whose_process_is_gone_is_taken_over_at_once(rated):
    """A worker killed with SIGKILL wrote a heartbeat a second ago; on its own machine the claim
    sees that its process is gone and runs the job now, not hours later."""
    identity = dead_process_identity()
    assert process_alive(identity) is False
    report = running_report(rated, worker=identity, heartbeat_ago=timedelta(seconds=1))

    done = agreement_report_run(report_id=report.pk)

    assert done.status == "succeeded"
    assert done.attempts == 2
    assert done.worker == process_identity()


def test_a_job_silent_for_the_stale_time_is_taken_over(rated, settings):
    settings.CONCORD_JOB_STALE_SECONDS = 120
    report = running_report(rated, worker="elsewhere/b00t/12/34", heartbeat_ago=timedelta(minutes=3))
    assert agreement_report_run(report_id=report.pk).status == "succeeded"


def test_after_its_last_attempt_a_dead_job_fails_with_a_message_and_a_retry(rated, settings):
    settings.CONCORD_JOB_MAX_ATTEMPTS = 2
    report = running_report(rated, worker=dead_process_identity(), attempts=2)

    assert agreement_report_run(report_id=report.pk) is None
    report.refresh_from_db()
    assert report.status == "failed"
    assert report.retryable
    assert "Its worker stopped while running it" in report.error
    assert "2 times" in report.error


def test_a_run_that_lost_its_job_to_another_worker_cannot_end_it(rated):
    kind = job_kind_get(REPORTS)
    queued = AgreementReport.objects.create(project=rated)
    first = job_claim(kind=kind, job_id=queued.pk)
    AgreementReport.objects.filter(pk=queued.pk).update(  # taken over: its worker looked dead
        attempts=2, worker="elsewhere/b00t/1/2", heartbeat_at=timezone.now()
    )

    assert job_succeed(job=first, fields={"n_annotations": 99}) is False
    queued.refresh_from_db()
    assert (queued.status, queued.n_annotations, queued.attempts) == ("running", 0, 2)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_is_written_while_the_job_itself_is_silent(project, settings):
    settings.CONCORD_JOB_HEARTBEAT_SECONDS = 0.1
    report = running_report(project, worker=process_identity(), heartbeat_ago=timedelta(hours=1))
    before = report.heartbeat_at
    with job_heartbeat(job=report):
        deadline = time.monotonic() + 30
        while AgreementReport.objects.get(pk=report.pk).heartbeat_at == before:
            assert time.monotonic() < deadline, "no heartbeat was written"
            time.sleep(0.05)
    assert AgreementReport.objects.get(pk=report.pk).heartbeat_at > before


def test_the_sweeper_sends_what_the_broker_never_took_and_leaves_the_rest(
    rated, other_project, broker_unreachable, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        due = agreement_refresh_soon(project_id=rated.pk, debounce_seconds=0)
    due.refresh_from_db()
    assert (due.status, due.enqueued_at, due.progress_text) == ("queued", None, BROKER_DOWN_TEXT)
    broker_unreachable.restore()
    later = AgreementReport.objects.create(  # debounced: its time has not come
        project=other_project, run_after=timezone.now() + timedelta(minutes=5)
    )
    just_sent = AgreementReport.objects.create(project=ExampleFactory().project, enqueued_at=timezone.now())
    sent = []
    send = agreement_report_task.apply_async
    monkeypatch.setattr(
        agreement_report_task, "apply_async", lambda **kwargs: sent.append(kwargs["args"]) or send(**kwargs)
    )

    counts = jobs_sweep()

    assert sent == [[due.pk]]
    assert counts[REPORTS]["sent"] == 1
    due.refresh_from_db()
    assert (due.status, due.progress_text) == ("succeeded", "Done")
    assert AgreementReport.objects.get(pk=later.pk).status == "queued"
    assert AgreementReport.objects.get(pk=just_sent.pk).status == "queued"


def test_a_message_lost_after_the_broker_took_it_is_sent_again(rated, settings):
    """A report the broker took but no worker started (its message lost with a Redis restart, or
    held by a worker that was killed) stopped the project's automatic refresh for good."""
    settings.CONCORD_JOB_RESEND_SECONDS = 900
    lost = AgreementReport.objects.create(project=rated, enqueued_at=timezone.now() - timedelta(minutes=20))
    assert agreement_refresh_soon(project_id=rated.pk) is None  # one report waits: no second one

    jobs_sweep()

    lost.refresh_from_db()
    assert lost.status == "succeeded"
    assert agreement_refresh_soon(project_id=rated.pk, debounce_seconds=3600) is not None


def test_the_broker_gives_no_message_to_a_second_worker_while_a_task_may_still_run(settings):
    longest = settings.CELERY_TASK_TIME_LIMIT + settings.CONCORD_AGREEMENT_DEBOUNCE_SECONDS
    assert settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT
    for url in ("redis://127.0.0.1:6379/0", "rediss://redis.example.org:6380/1"):
        options = celery_transport_options(url, var_dir=Path("/nonexistent"), longest_task_seconds=longest)
        assert options["visibility_timeout"] > longest
        assert options["socket_connect_timeout"] <= 5  # a request never hangs on a broker that is down
    if settings.CELERY_BROKER_URL.startswith("redis"):
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > longest
    assert settings.CONCORD_JOB_STALE_SECONDS >= 3 * settings.CONCORD_JOB_HEARTBEAT_SECONDS


def test_the_jobs_command_lists_sweeps_and_retries(rated, settings, django_capture_on_commit_callbacks):
    settings.CONCORD_JOB_MAX_ATTEMPTS = 1
    report = running_report(rated, worker=dead_process_identity(), attempts=1)
    out = StringIO()
    call_command("jobs", "sweep", stdout=out)
    assert "agreement_report: 1 failed" in out.getvalue()

    out = StringIO()
    call_command("jobs", stdout=out)
    assert f"agreement_report {report.pk}" in out.getvalue()
    assert "failed (retry it: manage.py jobs retry agreement_report" in out.getvalue()

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("jobs", "retry", REPORTS, str(report.pk), stdout=out)
    newest = AgreementReport.objects.latest("created_at")
    assert newest.pk != report.pk  # reports are history: a retry computes a new one
    assert newest.status == "succeeded"
    assert f"agreement_report {newest.pk}" in out.getvalue()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="tells processes apart through /proc")
def test_a_process_identity_tells_this_process_from_others():
    assert process_alive(process_identity()) is True
    assert process_alive(dead_process_identity()) is False
    assert process_alive("another-host/boot/1/2") is None  # another machine: only the heartbeat tells
    assert process_alive("") is None
