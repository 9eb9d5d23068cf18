"""Celery tasks of the projects app: plain ids in, one service call."""

from celery import shared_task


@shared_task(name="concord.import_batch", acks_late=True, ignore_result=True)
def import_batch_task(batch_id: int) -> None:
    """Run the import of one ImportBatch (examples, or a kind another app registered).

    Idempotent (core.jobs): a batch that already succeeded or failed is not run again, nor one a
    live worker runs. A batch whose worker died is run again from the start: its rows are written
    in one final transaction, so a half-finished run left nothing behind.
    """
    # Imported here: the services module imports this one to queue the task.
    from projects.services.imports import import_batch_run

    import_batch_run(batch_id=batch_id)
