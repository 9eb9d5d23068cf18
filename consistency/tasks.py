"""Celery tasks of the consistency app: plain ids in, one service call."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def agreement_report_task(report_id: int) -> None:
    """Compute one queued AgreementReport.

    Idempotent: a report that is already running (and not stale) or finished is left alone, so a
    redelivered or duplicated message never recomputes it; a refresh creates a new report instead.
    """
    # Imported here: the services module imports this one to queue the task.
    from consistency.agreement.services import agreement_report_run

    agreement_report_run(report_id=report_id)


@shared_task(acks_late=True, ignore_result=True)
def release_build_task(release_id: int) -> None:
    """Build one DatasetRelease into private storage.

    Idempotent: a ready or failed release is never rebuilt (releases are immutable), and one being
    built by a live worker is left alone; one left by a dead worker is built again from the start.
    """
    from consistency.releases.services import release_build_run

    release_build_run(release_id=release_id)


@shared_task(acks_late=True, ignore_result=True)
def decisions_refresh_task(batch_id: int) -> None:
    """Re-decide a project's examples after its review rules changed (an ImportBatch of kind
    decisions). Idempotent: a finished job is not run again; one left running by a dead worker
    runs again from the start, which is safe because deciding only writes what changed."""
    from labeling.services.decisions import decisions_refresh_run

    decisions_refresh_run(batch_id=batch_id)
