"""Celery tasks of agreement reports: plain ids in, one service call."""

from celery import shared_task


@shared_task(name="concord.agreement_report", acks_late=True, ignore_result=True)
def agreement_report_task(report_id: int) -> None:
    """Compute one queued AgreementReport.

    Idempotent (core.jobs): a report that a live worker computes, or that finished, is left alone,
    so a redelivered or duplicated message never recomputes it; a refresh creates a new report.
    """
    # Imported here: the services module imports this one to queue the task.
    from consistency.agreement.services import agreement_report_run

    agreement_report_run(report_id=report_id)
