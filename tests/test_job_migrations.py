"""Imports, reports and releases became core.jobs jobs: a database filled before that migration
keeps every row and its state, a release that never started is "queued", and a ready release stays
immutable (SQLite rebuilds the release table when columns are added; its triggers come back)."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE_THE_JOBS = [
    ("projects", "0005_guidelines_move_here"),
    ("consistency", "0008_guidelines_and_decisions_move_out"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_jobs_migration_keeps_every_row_and_state_and_the_triggers():
    old = _migrate(BEFORE_THE_JOBS)
    Project = old.get_model("projects", "Project")  # noqa: N806
    ImportBatch = old.get_model("projects", "ImportBatch")  # noqa: N806
    Report = old.get_model("consistency", "AgreementReport")  # noqa: N806
    Release = old.get_model("consistency", "DatasetRelease")  # noqa: N806
    Item = old.get_model("consistency", "DatasetReleaseItem")  # noqa: N806
    project = Project.objects.create(name="Jobs", slug="before-the-jobs")
    now = timezone.now()
    common = {"project": project, "file_format": "csv", "bytes_total": 200}
    ImportBatch.objects.create(
        source_name="done.csv", status="succeeded", bytes_read=200, started_at=now, **common
    )
    ImportBatch.objects.create(
        source_name="half.csv", status="running", bytes_read=100, started_at=now, **common
    )
    ImportBatch.objects.create(
        source_name="bad.csv", status="failed", error_count=3, started_at=now, **common
    )
    Report.objects.create(project=project, status="queued")
    Report.objects.create(project=project, status="succeeded", started_at=now, result={"n_raters": 2})
    Release.objects.create(project=project, tag="waiting", status="building")
    Release.objects.create(project=project, tag="building", status="building", started_at=now)
    ready = Release.objects.create(project=project, tag="ready", status="building", started_at=now, n_items=1)
    Item.objects.create(release=ready, external_id="e1", label="bug", source="unanimous", split="train")
    Release.objects.filter(pk=ready.pk).update(status="ready")  # items first: a ready release takes none

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from consistency.agreement.models import AgreementReport
    from consistency.releases.models import DatasetRelease, DatasetReleaseItem
    from projects.models import ImportBatch as NewImportBatch

    batches = {b.source_name: b for b in NewImportBatch.objects.filter(project__slug="before-the-jobs")}
    assert (batches["done.csv"].state, batches["done.csv"].percent, batches["done.csv"].attempts) == (
        "succeeded", 100, 1,
    )  # fmt: skip
    assert (batches["half.csv"].state, batches["half.csv"].percent, batches["half.csv"].progress_percent) == (
        "running", 50, 50,
    )  # fmt: skip
    assert batches["bad.csv"].error.startswith("The file was not imported: 3 problems found")
    reports = AgreementReport.objects.filter(project__slug="before-the-jobs").order_by("pk")
    assert [(r.state, r.attempts) for r in reports] == [("queued", 0), ("succeeded", 1)]
    assert reports[1].result == {"n_raters": 2}
    releases = {r.tag: r for r in DatasetRelease.objects.filter(project__slug="before-the-jobs")}
    assert {tag: (r.status, r.state, r.api_status) for tag, r in releases.items()} == {
        "waiting": ("queued", "queued", "building"),
        "building": ("building", "running", "building"),
        "ready": ("ready", "succeeded", "ready"),
    }
    item = DatasetReleaseItem.objects.get(release=releases["ready"])
    for change in (
        lambda: DatasetRelease.objects.filter(pk=releases["ready"].pk).update(n_items=2),
        lambda: DatasetReleaseItem.objects.filter(pk=item.pk).update(label="other"),
        lambda: DatasetReleaseItem.objects.create(
            release=releases["ready"], external_id="e2", label="bug", source="unanimous", split="train"
        ),
    ):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            change()
    DatasetRelease.objects.filter(pk=releases["building"].pk).update(heartbeat_at=timezone.now())  # not ready
