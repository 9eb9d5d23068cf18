"""Migration 0011 makes release items cheap to load (no database foreign keys, no index of their
own on the release, one immutability check per statement on PostgreSQL): a database filled before
it keeps every item, compares its releases as before, and a ready release stays immutable."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [
    ("projects", "0006_importbatch_background_job"),
    ("consistency", "0010_release_exports"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _item_foreign_keys() -> list:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "consistency_datasetreleaseitem")
    return sorted(c["columns"][0] for c in constraints.values() if c["foreign_key"])


@pytest.mark.django_db(transaction=True)
def test_items_keep_their_values_compare_and_stay_immutable_after_0011():
    old = _migrate(BEFORE)
    assert _item_foreign_keys() == ["example_id", "release_id"]
    Project = old.get_model("projects", "Project")  # noqa: N806
    Example = old.get_model("projects", "Example")  # noqa: N806
    Release = old.get_model("consistency", "DatasetRelease")  # noqa: N806
    Item = old.get_model("consistency", "DatasetReleaseItem")  # noqa: N806
    project = Project.objects.create(name="Items", slug="before-0011")
    examples = {
        eid: Example.objects.create(project=project, external_id=eid, text=eid, created_at=timezone.now())
        for eid in ("e1", "e2", "e3")
    }
    releases = {}
    for tag, rows in {
        "v1": [("e1", "bug", "train"), ("e2", "billing", "dev")],
        "v2": [("e1", "feature", "train"), ("e3", "bug", "test")],
    }.items():
        release = Release.objects.create(project=project, tag=tag, status="building", n_items=len(rows))
        for eid, label, split in rows:
            Item.objects.create(
                release=release, example=examples[eid], external_id=eid, label=label, source="unanimous",
                split=split, agreement=1.0, n_raters=3, guideline_versions=[1], raters={"r_1": label},
            )  # fmt: skip
        Release.objects.filter(pk=release.pk).update(status="ready")
        releases[tag] = release.pk

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from consistency.releases.models import DatasetRelease, DatasetReleaseItem
    from consistency.releases.selectors import release_diff
    from projects.models import Example as NewExample

    assert _item_foreign_keys() == []
    v1, v2 = DatasetRelease.objects.get(pk=releases["v1"]), DatasetRelease.objects.get(pk=releases["v2"])
    assert sorted(v1.items.values_list("external_id", "label", "split", "example__text", "raters")) == [
        ("e1", "bug", "train", "e1", {"r_1": "bug"}),
        ("e2", "billing", "dev", "e2", {"r_1": "billing"}),
    ]
    diff = release_diff(old=v1, new=v2)
    assert diff["counts"] == {"added": 1, "removed": 1, "relabeled": 1, "split_changed": 0, "kept": 1}
    assert diff["relabeled"] == [{"external_id": "e1", "old_label": "bug", "new_label": "feature"}]
    item = DatasetReleaseItem.objects.get(release=v1, external_id="e1")
    for change in (
        lambda: DatasetRelease.objects.filter(pk=v1.pk).update(n_items=5),
        lambda: DatasetReleaseItem.objects.filter(pk=item.pk).update(label="other"),
        lambda: DatasetReleaseItem.objects.create(
            release=v1, external_id="e9", label="bug", source="unanimous", split="train"
        ),
        lambda: DatasetReleaseItem.objects.bulk_create(
            [
                DatasetReleaseItem(release=r, external_id="e8", label="bug", source="gold", split="dev")
                for r in (v1, v2)
            ]
        ),
    ):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            change()
    assert v1.items.count() == 2
    # Django's on_delete still does what the foreign keys did: a deleted example nulls its items'
    # link (the items stay), a deleted release takes its items with it.
    NewExample.objects.filter(pk=examples["e1"].pk).delete()
    assert list(DatasetReleaseItem.objects.filter(external_id="e1").values_list("example_id", flat=True)) == [
        None, None,
    ]  # fmt: skip
    DatasetRelease.objects.filter(pk=v2.pk).delete()
    assert not DatasetReleaseItem.objects.filter(release_id=releases["v2"]).exists()
    assert DatasetReleaseItem.objects.filter(release_id=releases["v1"]).count() == 2
