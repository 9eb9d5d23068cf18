"""Writes for agreement reports: asking for one (now, or debounced after new annotations), and
computing one, in a background job (core.jobs, kind "agreement_report") or synchronously for the
command line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from consistency.agreement.models import AgreementReport
from consistency.agreement.selectors import TAG_SLICE, agreement_compute
from consistency.agreement.tasks import agreement_report_task
from consistency.review.selectors import gold_labels
from core.errors import NotFound
from core.jobs.services import (
    WAITING_TEXT,
    JobKind,
    job_claim_fields,
    job_enqueue,
    job_fail,
    job_heartbeat,
    job_progress,
    job_run,
    job_stop_reason,
    job_succeed,
)
from projects.models import Project
from projects.selectors import slice_field_clean

logger = logging.getLogger(__name__)

DEFAULT_DEBOUNCE_SECONDS = 60


def _slice_clean(project: Project, field: str | None) -> str:
    """A metadata field the examples use, or TAG_SLICE (one slice per tag), else "" (no slices)."""
    if field == TAG_SLICE:
        return TAG_SLICE
    return slice_field_clean(project=project, field=field)


def _queued_report(project_id: int) -> AgreementReport | None:
    return AgreementReport.objects.filter(project_id=project_id, status=AgreementReport.Status.QUEUED).first()


def agreement_refresh_soon(
    *, project_id: int, debounce_seconds: int = DEFAULT_DEBOUNCE_SECONDS
) -> AgreementReport | None:
    """Schedule a new agreement report `debounce_seconds` from now, unless one is already queued.

    Call it after annotations are written (inside or outside their transaction): however many
    annotations arrive within the window, one report is computed, when the task fires, on all of
    them. A queued report is enough because it has not read the annotations yet. A report that is
    already *running* may have read them before this call, so it does not count: a new queued one
    is created (this is why the rule is "one queued report", not "one queued or running report").
    Returns the new report, or None when one was already waiting.
    """
    if _queued_report(project_id) is not None:
        return None
    countdown = max(0, int(debounce_seconds))
    try:
        with transaction.atomic():
            report = AgreementReport.objects.create(
                project_id=project_id,
                status=AgreementReport.Status.QUEUED,
                trigger=AgreementReport.Trigger.AUTO,
                slice_field=_last_slice_field(project_id),
                progress_text="Waiting for more annotations before computing",
                run_after=timezone.now() + timedelta(seconds=countdown),
            )
    except IntegrityError:
        # Another submit queued one between our check and insert (the partial unique constraint).
        return None
    job_enqueue(job=report, countdown=countdown)
    return report


def agreement_refresh_after_new_annotations(*, project_id: int, source: str) -> None:
    """Receiver of labeling.hooks.annotations_changed. A labeler's submit asks for a debounced
    refresh (when CONCORD_AGREEMENT_AUTO_REFRESH is on); an import asks for one at once."""
    if source == "import":
        agreement_refresh_soon(project_id=project_id, debounce_seconds=0)
    elif settings.CONCORD_AGREEMENT_AUTO_REFRESH:
        agreement_refresh_soon(
            project_id=project_id, debounce_seconds=settings.CONCORD_AGREEMENT_DEBOUNCE_SECONDS
        )


def _last_slice_field(project_id: int) -> str:
    """Automatic refreshes keep the slice field the managers last chose."""
    last = (
        AgreementReport.objects.filter(project_id=project_id, trigger=AgreementReport.Trigger.MANUAL)
        .order_by("-created_at", "-id")
        .values_list("slice_field", flat=True)
        .first()
    )
    return last or ""


def agreement_report_request(
    *, project: Project, user: AbstractBaseUser | None, slice_field: str = ""
) -> AgreementReport:
    """Compute a report now (the dashboard's button). `slice_field` is checked against the metadata keys.

    If a report is already waiting in the queue (e.g. a debounced refresh), that one is taken over:
    it gets this request's slice field and requester and is started without waiting for its delay.
    The task's claim makes the second delivery of its message a no-op.
    """
    slice_field = _slice_clean(project, slice_field)
    with transaction.atomic():
        report = (
            AgreementReport.objects.select_for_update()
            .filter(project=project, status=AgreementReport.Status.QUEUED)
            .first()
        )
        if report is not None:
            report.slice_field = slice_field
            report.requested_by = user if user is not None and user.is_authenticated else None
            report.trigger = AgreementReport.Trigger.MANUAL
            report.progress_text = WAITING_TEXT
            report.run_after = None
            report.save(
                update_fields=["slice_field", "requested_by", "trigger", "progress_text", "run_after"]
            )
        else:
            try:
                with transaction.atomic():
                    report = AgreementReport.objects.create(
                        project=project,
                        status=AgreementReport.Status.QUEUED,
                        trigger=AgreementReport.Trigger.MANUAL,
                        requested_by=user if user is not None and user.is_authenticated else None,
                        slice_field=slice_field,
                        progress_text=WAITING_TEXT,
                    )
            except IntegrityError:
                report = _queued_report(project.pk)
                if report is None:  # it was claimed in the meantime: queue a fresh one
                    return agreement_report_request(project=project, user=user, slice_field=slice_field)
        job_enqueue(job=report)
    return report


def agreement_report_run(*, report_id: int) -> AgreementReport | None:
    """Claim a queued report and compute it (core.jobs.services.job_run). The task's whole job.

    A finished report is never recomputed; one whose worker died is computed again. Returns the
    report, or None if it was not ours to run.
    """
    return job_run(kind="agreement_report", job_id=report_id)


def agreement_report_retry(*, report: AgreementReport, user: AbstractBaseUser | None) -> AgreementReport:
    """Reports are append-only: retrying a failed one asks for a new one, sliced the same way."""
    return agreement_report_request(project=report.project, user=user, slice_field=report.slice_field)


def agreement_report_compute(
    *,
    project_id: int,
    slice_field: str = "",
    requested_by: AbstractBaseUser | None = None,
    gold: Mapping[int, tuple[int, int]] | None = None,
) -> AgreementReport:
    """Compute a report right here (the `agreement` command). Same contract as the task.

    A report waiting in the queue (a debounced refresh) is taken over and computed now, with the
    same conditional claim as the task, so its delayed message later finds it done. Otherwise it
    would run after this one under an older number, on the same data, and read as the latest.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise NotFound("Project not found.")
    fields = {
        **job_claim_fields(kind="agreement_report"),
        "trigger": AgreementReport.Trigger.COMMAND,
        "requested_by": requested_by,
        "slice_field": _slice_clean(project, slice_field),
    }
    queued = _queued_report(project.pk)
    if queued is not None and (
        AgreementReport.objects.filter(pk=queued.pk, status=AgreementReport.Status.QUEUED).update(**fields)
    ):
        report = AgreementReport.objects.select_related("project").get(pk=queued.pk)
    else:
        fields["attempts"] = 1
        report = AgreementReport.objects.create(project=project, enqueued_at=timezone.now(), **fields)
    with job_heartbeat(job=report):
        _compute_into(report, gold=gold)
    report.refresh_from_db()
    return report


def _compute_into(report: AgreementReport, *, gold: Mapping[int, tuple[int, int]] | None = None) -> None:
    """Compute a running report and end it (the "agreement_report" job's run)."""

    def progress(percent: int, text: str) -> None:
        job_progress(job=report, percent=percent, text=text)

    try:
        # The slice field was checked when the report was created; check again in case the
        # examples changed, because it ends up in a query.
        slice_field = _slice_clean(report.project, report.slice_field)
        if gold is None:
            # Each rater's agreement with the SME on the disputed examples an SME decided.
            gold = gold_labels(project=report.project)
        result = agreement_compute(
            project=report.project, slice_field=slice_field, gold=gold, progress=progress
        )
    except Exception as exc:
        logger.exception("Agreement report %s failed", report.pk)
        job_fail(
            job=report,
            message=f"The report could not be computed: it stopped because of {job_stop_reason(exc)}.",
            fields={"progress_text": "Failed"},
            retryable=True,
        )
        return
    job_succeed(
        job=report,
        fields={"result": result, "n_annotations": result["n_annotations"], "progress_text": "Done"},
    )


# The "agreement_report" jobs (core.jobs), registered by ConsistencyConfig.ready.
REPORT_JOBS = JobKind(
    name="agreement_report",
    model=AgreementReport,
    task=agreement_report_task,
    run=lambda report: _compute_into(
        AgreementReport.objects.select_related("project").get(pk=report.pk), gold=None
    ),
    retry=lambda report, user: agreement_report_retry(report=report, user=user),
)
