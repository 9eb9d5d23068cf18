"""Celery tasks of dataset releases: plain ids in, one service call."""

from celery import shared_task


@shared_task(name="concord.release_build", acks_late=True, ignore_result=True)
def release_build_task(release_id: int) -> None:
    """Build one DatasetRelease into private storage.

    Idempotent (core.jobs): a ready or failed release is never rebuilt by a message (releases are
    immutable; a failed one is retried on purpose), and one a live worker builds is left alone; one
    whose worker died is built again from the start, after its half-written items and files go.
    """
    from consistency.releases.services import release_build_run

    release_build_run(release_id=release_id)
    # Then the files for other tools, in their own task: a release is ready without them (a
    # download writes what is missing), and a redelivered message finds them written.
    release_exports_task.delay(release_id)


@shared_task(name="concord.release_exports", acks_late=True, ignore_result=True)
def release_exports_task(release_id: int) -> None:
    """Write a ready release's Parquet, Hugging Face and Label Studio files (those not written
    yet); nothing for a release that is not ready."""
    from consistency.releases.exports import release_exports_write

    release_exports_write(release_id=release_id)
