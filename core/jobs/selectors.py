"""Reads of background jobs: how one reads on pages and in the API (one shape everywhere), and the
jobs an operator should know about."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.jobs.models import Job, JobState


def job_is_stalled(job: Job, *, now=None) -> bool:
    """A running job with no sign of life from its worker for CONCORD_JOB_STALE_SECONDS."""
    if job.state != JobState.RUNNING:
        return False
    last = job.heartbeat_at or job.started_at
    now = now or timezone.now()
    return last is None or last < now - timedelta(seconds=settings.CONCORD_JOB_STALE_SECONDS)


def job_status(job: Job) -> dict[str, Any]:
    """The state of a job as pages and the API show it."""
    return {
        "kind": job.job_kind,
        "state": job.state,
        "percent": job.percent,
        "progress_text": job.progress_text,
        "error": job.error,
        "stalled": job_is_stalled(job),
        "attempts": job.attempts,
        "retryable": job.state == JobState.FAILED and job.retryable,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "heartbeat_at": job.heartbeat_at,
        "finished_at": job.finished_at,
    }


def jobs_needing_attention(*, kinds) -> list[Job]:
    """Every job not finished, and every failed job a retry may fix, oldest first."""
    found: list[Job] = []
    for kind in kinds:
        words = [kind.model.status_for(state) for state in (JobState.QUEUED, JobState.RUNNING)]
        unfinished = kind.jobs().filter(status__in=words)
        retryable = kind.jobs().filter(status=kind.model.status_for(JobState.FAILED), retryable=True)
        found.extend(unfinished | retryable)
    return sorted(found, key=lambda job: (job.created_at, job.job_kind, job.pk))
