"""Celery tasks of the labeling app: plain ids in, one service call."""

from celery import shared_task


@shared_task(name="concord.decisions_refresh", acks_late=True, ignore_result=True)
def decisions_refresh_task(batch_id: int) -> None:
    """Re-decide a project's examples after its review rules changed (an ImportBatch of kind
    decisions). Idempotent (core.jobs): a finished job is not run again, nor one a live worker
    runs; one whose worker died runs again from the start, which is safe because deciding only
    writes what changed."""
    from labeling.services.decisions import decisions_refresh_run

    decisions_refresh_run(batch_id=batch_id)
