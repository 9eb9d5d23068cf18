"""Writes of the one background-job mechanism: kinds, queueing, claiming, heartbeat, progress, the
end of a job, recovery from dead workers, retries and the sweeper.

The life of a job:
1. An app creates the row (queued) in the transaction of the request that asks for the work and
   calls `job_enqueue`: after the commit the row is handed to the broker. A broker that cannot be
   reached is logged and written on the row ("waiting for a worker..."), never raised: the row is
   the outbox, and the sweeper sends it once the broker is back.
2. A worker's task (ids in) calls `job_run`: `job_claim` makes the row running with one
   conditional write, records the process and counts the attempt. A row that is running already
   is left alone while its worker lives (a fresh heartbeat, a row lock held by its transaction, or
   its process still on this machine), so a redelivered message never runs a job twice at once.
3. While the kind's `run` works, a thread writes the heartbeat every CONCORD_JOB_HEARTBEAT_SECONDS;
   `job_progress` writes progress (and a heartbeat). The run ends the job with `job_succeed` or
   `job_fail`, which only write while this run still owns it (the row's attempt is the run's).
4. A job whose worker died (no heartbeat for CONCORD_JOB_STALE_SECONDS, or its process gone) is
   found by the sweeper or by a redelivered message: its leftovers are removed and it is queued
   again, up to CONCORD_JOB_MAX_ATTEMPTS runs; then it fails with a message and may be retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from core.errors import Conflict, NotFound
from core.jobs.models import Job, JobState
from core.jobs.selectors import job_is_stalled
from core.jobs.worker import process_alive, process_identity

logger = logging.getLogger(__name__)

WAITING_TEXT = "Waiting for a worker"
BROKER_DOWN_TEXT = (
    "Waiting for a worker: the job queue cannot be reached right now, so the job is sent as soon "
    "as it is back"
)
RESTARTED_TEXT = "Waiting for a worker: started again because the worker running it stopped"
STARTING_TEXT = "Starting"


def _nothing(job: Job) -> None:
    return None


@dataclass(frozen=True)
class JobKind:
    """One kind of background job, registered by the app that owns it (in AppConfig.ready).

    `task` is the Celery task that runs a job of this kind from its id (`apply_async(args=[id],
    countdown=s)`); `run(job)` does the work of a claimed job and ends it with job_succeed or
    job_fail. `rows` picks this kind's rows when several kinds share a model.
    `leftovers_remove(job)` deletes what an interrupted run half wrote (release items and files);
    `inputs_remove(job)` deletes what only a retry would need (an uploaded file). `retry(job,
    user)` retries a failed job (default: the same row is queued again).
    """

    name: str
    model: type[Job]
    task: Any
    run: Callable[[Job], None]
    rows: Q = field(default_factory=Q)
    leftovers_remove: Callable[[Job], None] = _nothing
    inputs_remove: Callable[[Job], None] = _nothing
    retry: Callable[..., Job] | None = None

    def jobs(self) -> QuerySet:
        return self.model.objects.filter(self.rows)


_KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> None:
    _KINDS[kind.name] = kind


def job_kind_get(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise NotFound(f"Unknown kind of job {name!r}: {', '.join(sorted(_KINDS))}.") from None


def job_kinds() -> list[JobKind]:
    return list(_KINDS.values())


def job_kind_of(job: Job) -> JobKind:
    return job_kind_get(job.job_kind)


def _word(kind: JobKind, state: str) -> str:
    """What the kind's rows store in `status` for `state`."""
    return kind.model.status_for(state)


# --------------------------------------------------------------------------------------------------
# Queueing: the row is the outbox


def job_enqueue(*, job: Job, countdown: int = 0) -> None:
    """Hand `job` to the broker once the current transaction commits (at once outside one). Never
    raises because of the broker: see job_send."""
    transaction.on_commit(lambda: job_send(job=job, countdown=countdown))


def job_dispatched_here(*, job: Job) -> None:
    """Record that this process runs `job` itself (the command line), so the sweeper does not send
    it to a worker unless this process dies before claiming it."""
    type(job).objects.filter(pk=job.pk).update(enqueued_at=timezone.now())


def job_send(*, job: Job, countdown: int = 0) -> bool:
    """Give a queued job to the broker now. A broker error is logged and written on the row (the
    sweeper sends it again); True if the broker took it."""
    kind = job_kind_of(job)
    queued = kind.jobs().filter(pk=job.pk, status=_word(kind, JobState.QUEUED))
    if kind.task.app.conf.task_always_eager:  # tests: the task runs right here, errors propagate
        kind.task.apply_async(args=[job.pk], countdown=countdown)
        return True
    try:
        kind.task.apply_async(args=[job.pk], countdown=countdown)
    except Exception:
        logger.warning(
            "%s job %s could not be handed to the job queue; it waits for the sweeper", kind.name, job.pk,
            exc_info=True,
        )  # fmt: skip
        queued.update(progress_text=BROKER_DOWN_TEXT)
        if job.state == JobState.QUEUED:
            job.progress_text = BROKER_DOWN_TEXT  # what the answer to this request shows
        return False
    queued.update(
        enqueued_at=timezone.now(),
        progress_text=Case(
            When(progress_text=BROKER_DOWN_TEXT, then=Value(WAITING_TEXT)), default=F("progress_text")
        ),
    )
    return True


# --------------------------------------------------------------------------------------------------
# Running


def job_run(*, kind: str, job_id: int) -> Job | None:
    """The whole of a job's task: claim the job and run it to its end. None if it was not this
    process's to run (finished already, or running in a live worker)."""
    spec = job_kind_get(kind)
    job = job_claim(kind=spec, job_id=job_id)
    if job is None:
        return None
    job_execute(job=job)
    return spec.jobs().get(pk=job.pk)


def _claim_fields(kind: JobKind, now) -> dict[str, Any]:
    return {
        "status": _word(kind, JobState.RUNNING),
        "started_at": now,
        "heartbeat_at": now,
        "finished_at": None,
        "worker": process_identity(),
        "attempts": F("attempts") + 1,
        "progress_percent": 0,
        "progress_text": STARTING_TEXT,
        "error": "",
        "retryable": False,
    }


def job_claim(*, kind: JobKind, job_id: int) -> Job | None:
    """Make a queued job running for this process, or take over a running one whose worker died.
    One conditional write, so two deliveries of one message cannot both run it. None if the job is
    not this process's to run."""
    now = timezone.now()
    rows = kind.jobs().filter(pk=job_id)
    if rows.filter(status=_word(kind, JobState.QUEUED)).update(**_claim_fields(kind, now)):
        return rows.get()
    with transaction.atomic():
        job = _lock_if_dead(rows, kind, now)
        if job is None or not _recover(kind, job, now):
            return None
        rows.update(**_claim_fields(kind, now))
    return rows.get()


def job_claim_fields(*, kind: str) -> dict[str, Any]:
    """What a claim writes, for a service that makes its own row running (the `agreement` command
    computes a report in its own process)."""
    return _claim_fields(job_kind_get(kind), timezone.now())


def job_execute(*, job: Job) -> None:
    """Run a claimed job with its heartbeat; an exception the kind's run lets through fails it."""
    kind = job_kind_of(job)
    with job_heartbeat(job=job):
        try:
            kind.run(job)
        except Exception as exc:
            logger.exception("%s job %s stopped by an unexpected error", kind.name, job.pk)
            job_fail(job=job, message=f"It stopped because of {job_stop_reason(exc)}.", retryable=True)
            return
    if _owned(job).exists():  # the run returned without ending its job: a bug, said plainly
        logger.error("%s job %s returned without ending", kind.name, job.pk)
        job_fail(job=job, message="It ended without a result; the server log has the details.")


def job_stop_reason(exc: BaseException) -> str:
    """Why a job stopped, in words for people: never the exception's details (they go to the log)."""
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return f"the time limit for background jobs ({settings.CELERY_TASK_SOFT_TIME_LIMIT} s)"
    return f"an unexpected error ({type(exc).__name__})"


def _owned(job: Job) -> QuerySet:
    """The job's row while this run still owns it: running, at the attempt it claimed."""
    return type(job).objects.filter(pk=job.pk, status=job.status_for(JobState.RUNNING), attempts=job.attempts)


def job_progress(*, job: Job, percent: int, text: str | None = None, fields: dict | None = None) -> bool:
    """Record progress (0-100, and what it is doing) and a heartbeat; False if the run lost the job."""
    values: dict[str, Any] = {
        "progress_percent": max(0, min(100, int(percent))),
        "heartbeat_at": timezone.now(),
    }
    if text is not None:
        values["progress_text"] = text[:200]
    return bool(_owned(job).update(**values, **(fields or {})))


def job_succeed(*, job: Job, fields: dict | None = None) -> bool:
    """End the job as succeeded with its result fields; False (nothing written) if this run no
    longer owns it (another worker took it over)."""
    now = timezone.now()
    succeeded = _owned(job).update(
        status=job.status_for(JobState.SUCCEEDED),
        finished_at=now,
        heartbeat_at=now,
        progress_percent=100,
        **(fields or {}),
    )
    if succeeded:
        _notify_owner(job, succeeded=True)
    return bool(succeeded)


def job_fail(*, job: Job, message: str, fields: dict | None = None, retryable: bool = False) -> bool:
    """End the job as failed with `message` (shown to people) and remove what it half wrote. A
    `retryable` failure keeps what a retry needs. False if this run no longer owns the job."""
    now = timezone.now()
    failed = _owned(job).update(
        status=job.status_for(JobState.FAILED),
        finished_at=now,
        heartbeat_at=now,
        error=message,
        retryable=retryable,
        **(fields or {}),
    )
    if failed:
        _remove(job_kind_of(job), job, inputs=not retryable)
        _notify_owner(job, succeeded=False)
    return bool(failed)


def _remove(kind: JobKind, job: Job, *, inputs: bool) -> None:
    try:
        kind.leftovers_remove(job)
        if inputs:
            kind.inputs_remove(job)
    except Exception:
        logger.exception("could not remove what %s job %s left behind", kind.name, job.pk)


def job_heartbeat(*, job: Job) -> _Heartbeat:
    """`with job_heartbeat(job=job):` around a claimed job's work, for a service that runs one
    outside job_execute (the command line)."""
    return _Heartbeat(job)


class _Heartbeat:
    """A thread that writes the job's heartbeat every CONCORD_JOB_HEARTBEAT_SECONDS while the job
    runs, through its own database connection, so a long silent step (one big INSERT, a long
    computation) still shows that its worker lives. It stops when the job is no longer this run's."""

    def __init__(self, job: Job):
        self.rows = _owned(job)
        self.interval = settings.CONCORD_JOB_HEARTBEAT_SECONDS
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"job-heartbeat-{job.pk}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    with transaction.atomic():
                        if connection.vendor == "postgresql":
                            # The run may hold its own row lock in a long transaction: then it is
                            # alive anyway (the sweeper skips locked rows), so do not queue up.
                            with connection.cursor() as cursor:
                                cursor.execute("SET LOCAL lock_timeout = '2s'")
                        if not self.rows.update(heartbeat_at=timezone.now()):
                            return
                except Exception:
                    logger.debug("heartbeat not written this time", exc_info=True)
        finally:
            connections.close_all()  # this thread's own connections


# --------------------------------------------------------------------------------------------------
# Dead workers


def job_worker_lost(job: Job, *, now=None) -> bool:
    """Whether a running job's worker is gone: its process is known dead on this machine, or it
    has been silent for too long and is not known to live."""
    if job.state != JobState.RUNNING:
        return False
    alive = process_alive(job.worker)
    if alive is not None:
        return not alive
    return job_is_stalled(job, now=now)


def _lock_if_dead(rows: QuerySet, kind: JobKind, now) -> Job | None:
    """Inside a transaction: the running job of `rows`, locked, if its worker is gone. A row that
    another transaction holds belongs to a live run (a dead worker's locks went with it)."""
    job = (
        rows.filter(status=_word(kind, JobState.RUNNING))
        .select_for_update(no_key=True, skip_locked=True)
        .first()
    )
    return job if job is not None and job_worker_lost(job, now=now) else None


LOST_MESSAGE = (
    "Its worker stopped while running it (killed, out of memory or restarted) {n}; what it had half "
    "done was removed. Retry it; if it stops again, the worker's log and memory say why."
)


def _recover(kind: JobKind, job: Job, now) -> bool:
    """For a locked job whose worker died: remove its leftovers; True if it may run again, else it
    is failed (retryable) and False."""
    kind.leftovers_remove(job)
    if job.attempts < settings.CONCORD_JOB_MAX_ATTEMPTS:
        return True
    times = "once" if job.attempts == 1 else f"{job.attempts} times"
    type(job).objects.filter(pk=job.pk).update(
        status=job.status_for(JobState.FAILED),
        finished_at=now,
        error=LOST_MESSAGE.format(n=times),
        retryable=True,
        progress_text="",
    )
    logger.warning("%s job %s failed: its worker stopped %s", kind.name, job.pk, times)
    return False


# --------------------------------------------------------------------------------------------------
# Retrying


def job_retry(*, job: Job, user=None) -> Job:
    """Retry a job that failed for a reason a retry may fix (its kind decides how)."""
    if job.state != JobState.FAILED:
        raise Conflict(f"Only a failed job can be retried; this one is {job.state}.")
    if not job.retryable:
        raise Conflict("This job failed for a reason a retry would not fix; its message says what to do.")
    kind = job_kind_of(job)
    if kind.retry is not None:
        return kind.retry(job, user)
    return job_requeue_failed(job=job)


def job_requeue_failed(*, job: Job, fields: dict | None = None) -> Job:
    """Queue a retryable failed job again as it was asked for (with `fields` changed)."""
    kind = job_kind_of(job)
    rows = kind.jobs().filter(pk=job.pk)
    with transaction.atomic():
        requeued = rows.filter(status=job.status_for(JobState.FAILED), retryable=True).update(
            status=job.status_for(JobState.QUEUED),
            attempts=0,
            error="",
            retryable=False,
            progress_percent=0,
            progress_text=WAITING_TEXT,
            started_at=None,
            heartbeat_at=None,
            finished_at=None,
            worker="",
            enqueued_at=None,
            run_after=None,
            **(fields or {}),
        )
        if not requeued:
            raise Conflict("This job is being retried already.")
        job = rows.get()
        job_enqueue(job=job)
    return job


# --------------------------------------------------------------------------------------------------
# The sweeper


def jobs_sweep(*, now=None) -> dict[str, dict[str, int]]:
    """What every worker runs on start, after reconnecting and periodically (core.jobs.worker):
    - running jobs whose worker is gone: leftovers removed, queued again (or failed after
      CONCORD_JOB_MAX_ATTEMPTS runs);
    - queued jobs the broker never took (it was down, or the process died before sending) or took
      CONCORD_JOB_RESEND_SECONDS ago without a worker starting them: sent (again);
    - jobs that failed retryably more than CONCORD_JOB_RETRY_DAYS ago: what a retry would have
      needed is deleted.
    Returns counts per kind."""
    now = now or timezone.now()
    return {kind.name: _sweep_kind(kind, now) for kind in job_kinds()}


def _sweep_kind(kind: JobKind, now) -> dict[str, int]:
    counts = {"restarted": 0, "failed": 0, "sent": 0, "expired": 0}
    running = kind.jobs().filter(status=_word(kind, JobState.RUNNING))
    for job_id in running.values_list("pk", flat=True):
        with transaction.atomic():
            job = _lock_if_dead(kind.jobs().filter(pk=job_id), kind, now)
            if job is None:
                continue
            if not _recover(kind, job, now):
                counts["failed"] += 1
                continue
            kind.jobs().filter(pk=job.pk).update(
                status=job.status_for(JobState.QUEUED),
                started_at=None,
                heartbeat_at=None,
                worker="",
                progress_percent=0,
                progress_text=RESTARTED_TEXT,
                enqueued_at=None,  # sent below, with the other queued jobs not sent yet
            )
            counts["restarted"] += 1

    resend_before = now - timedelta(seconds=settings.CONCORD_JOB_RESEND_SECONDS)
    due = (
        kind.jobs()
        .filter(status=_word(kind, JobState.QUEUED))
        .filter(Q(run_after__isnull=True) | Q(run_after__lte=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=resend_before))
        .order_by("created_at", "pk")
    )
    for job in due:
        if not job_send(job=job):
            break  # the broker is still down: the next sweep tries again
        counts["sent"] += 1

    expired = kind.jobs().filter(
        status=_word(kind, JobState.FAILED),
        retryable=True,
        finished_at__lt=now - timedelta(days=settings.CONCORD_JOB_RETRY_DAYS),
    )
    for job in expired:
        _remove(kind, job, inputs=True)
        kind.jobs().filter(pk=job.pk).update(retryable=False)
        counts["expired"] += 1
    return counts


# Jobs whose end the person who started them hears of (core.models.Notice): imports and releases.
NOTIFIED_KINDS = {"import": "projects:import_status", "release": "consistency:release_detail"}


def _notify_owner(job: Job, *, succeeded: bool) -> None:
    """A notice to whoever started an import or a release that it finished (or failed)."""
    kind = job_kind_of(job).name
    owner = getattr(job, "created_by", None)
    project = getattr(job, "project", None)
    if kind not in NOTIFIED_KINDS or owner is None or project is None:
        return
    from django.urls import reverse

    from core.services import notice_send

    if kind == "import":
        what, args = f"Import of {job.source_name}", [project.slug, job.pk]
    else:
        what, args = f"Release {job.tag}", [project.slug, job.tag]
    outcome = "finished" if succeeded else "failed"
    try:
        notice_send(
            users=[owner],
            project=project,
            kind=f"{kind}_{outcome}",
            text=f"{what} {outcome} ({project.name}).",
            url=reverse(NOTIFIED_KINDS[kind], args=args),
        )
    except Exception:  # a notice must never fail the job it reports on
        logger.exception("could not leave a notice for %s job %s", kind, job.pk)
