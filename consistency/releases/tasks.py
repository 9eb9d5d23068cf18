"""Celery tasks of dataset releases: plain ids in, one service call."""

from celery import shared_task


@shared_task(name="concord.release_build", acks_late=True, ignore_result=True)
def release_build_task(release_id: int) -> None:
    """Build one DatasetRelease into private storage.

    Idempotent: a ready or failed release is never rebuilt (releases are immutable), and one being
    built by a live worker is left alone; one left by a dead worker is built again from the start.
    """
    from consistency.releases.services import release_build_run

    release_build_run(release_id=release_id)
