"""Releases of a multi-label project: each example's released label is a set of label names, in
the project's label order: a JSON array in the JSONL (and the JSON download), the names joined by
"|" in the CSV, a list<string> column in Parquet; raters' labels are sets too. The policy filters
(sources, minimum agreement, ambiguous flags, tags) and stable splits work as for single labels,
and a label's count is the number of released examples carrying it. Runs on both databases."""

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.utils import timezone

from consistency.releases.models import DatasetReleaseItem
from consistency.releases.selectors import release_diff
from consistency.releases.services import release_build
from core.errors import ApplicationError
from labeling.models import ConsensusLabel
from projects.models import ExampleTag, TaskType
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def multi(project):
    project.task_type = TaskType.MULTI
    project.save(update_fields=["task_type"])
    return project


@pytest.fixture
def labels(multi):
    # The project's label order is by position: billing moves last (bug, feature, other, billing),
    # so names are not in the order of their ids.
    multi.labels.filter(name="billing").update(position=9)
    return {label.name: label for label in multi.labels.all()}


def _ids(labels, *names) -> list[int]:
    return sorted(labels[name].pk for name in names)


def _example(project, labels, raters, external_id, votes, *, decided, source="unanimous", agreement=1.0,
             ambiguous=False, version=None):  # fmt: skip
    """An example with each rater's set of labels and its consensus set (`decided`, names)."""
    example = ExampleFactory(project=project, external_id=external_id, text=f"text of {external_id}")
    for rater, names in zip(raters, votes, strict=False):
        AnnotationFactory(
            example=example,
            rater=rater,
            label=None,
            labels=_ids(labels, *names),
            ambiguous=ambiguous and rater == raters[0],
            guideline_version=version,
        )
    if source is not None:
        ConsensusLabel.objects.create(
            example=example,
            label=None,
            labels=None if source == "excluded" else _ids(labels, *decided),
            source=source,
            agreement=agreement,
            n_raters=len(votes),
            decided_at=timezone.now(),
        )
    return example


@pytest.fixture
def decided(multi, labels):
    raters = [UserFactory(username=f"multi-rater-{i}") for i in range(3)]
    v1 = GuidelineVersionFactory(project=multi, number=1)
    both = ["bug", "billing"]
    _example(multi, labels, raters, "m-01", [both, both, both], decided=both, version=v1)
    _example(multi, labels, raters, "m-02", [["feature"], ["feature", "bug"], ["feature"]],
             decided=["feature"], source="majority", agreement=2 / 3)  # fmt: skip
    # "None of these": an empty set, released as [] (JSONL) and an empty cell (CSV).
    _example(multi, labels, raters, "m-03", [[], [], []], decided=[])
    # Out under the default policy: flagged ambiguous; below a 0.7 floor; excluded; undecided.
    _example(multi, labels, raters, "m-04", [["other"]] * 3, decided=["other"], ambiguous=True)
    _example(multi, labels, raters, "m-05", [["bug"], ["bug", "other"], ["other"]],
             decided=["bug", "other"], source="majority", agreement=0.5)  # fmt: skip
    _example(multi, labels, raters, "m-06", [["bug"], ["feature"], ["other"]], decided=[], source="excluded",
             agreement=None)  # fmt: skip
    _example(multi, labels, raters, "m-07", [["bug"], ["feature"]], decided=None, source=None)
    # Gold: an SME's set, kept whatever the floor; its agreement is the raters' share of that set.
    _example(multi, labels, raters, "m-08", [["billing", "other"], ["billing"], ["other", "billing"]],
             decided=["other", "billing"], source="gold", agreement=None)  # fmt: skip
    return raters


def _stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def _lines(release) -> dict[str, dict]:
    lines = [json.loads(line) for line in _stored(release.jsonl_file).split(b"\n") if line]
    return {line["external_id"]: line for line in lines}


def test_jsonl_and_csv_carry_label_sets(multi, labels, manager, decided):
    release = release_build(project=multi, user=manager, policy={"seed": "s", "min_agreement": 0.6})
    assert release.status == "ready", release.error
    lines = _lines(release)
    assert sorted(lines) == ["m-01", "m-02", "m-03", "m-08"]
    # Names in the project's label order (bug before billing), whatever order they were chosen in.
    assert lines["m-01"]["label"] == ["bug", "billing"]
    assert lines["m-01"]["guideline_versions"] == [1]
    assert lines["m-02"]["label"] == ["feature"]
    assert lines["m-02"]["agreement"] == 0.6667
    assert lines["m-03"]["label"] == []
    assert lines["m-08"]["label"] == ["other", "billing"]
    assert lines["m-08"]["source"] == "gold"
    assert lines["m-08"]["agreement"] == 0.6667  # two of three raters chose exactly that set
    rows = {
        row["external_id"]: row for row in csv.DictReader(io.StringIO(_stored(release.csv_file).decode()))
    }
    assert rows["m-01"]["label"] == "bug|billing"
    assert rows["m-02"]["label"] == "feature"
    assert rows["m-03"]["label"] == ""
    assert rows["m-08"]["label"] == "other|billing"
    assert release.n_items == 4
    # Each label counts the released examples carrying it; the splits count examples.
    assert release.counts["labels"] == {"billing": 2, "bug": 1, "feature": 1, "other": 1}
    assert sum(release.counts["splits"].values()) == 4
    items = dict(DatasetReleaseItem.objects.filter(release=release).values_list("external_id", "labels"))
    assert items["m-01"] == ["bug", "billing"]


def test_policy_filters_apply_to_label_sets(multi, labels, manager, decided):
    everything = release_build(
        project=multi, user=manager, tag="all", policy={"seed": "s", "exclude_ambiguous": False}
    )
    assert sorted(_lines(everything)) == ["m-01", "m-02", "m-03", "m-04", "m-05", "m-08"]
    assert _lines(everything)["m-05"]["label"] == ["bug", "other"]
    ExampleTag.objects.create(project=multi, example=multi.examples.get(external_id="m-01"), name="tricky")
    gold_or_tagged = release_build(
        project=multi, user=manager, tag="tagged", policy={"seed": "s", "exclude_tags": ["tricky"],
                                                            "sources": ["gold", "majority"]}
    )  # fmt: skip
    assert sorted(_lines(gold_or_tagged)) == ["m-02", "m-05", "m-08"]


def test_raters_labels_are_sets(multi, labels, manager, decided):
    release = release_build(project=multi, user=manager, policy={"seed": "s", "include_raters": True})
    lines = _lines(release)
    assert sorted(lines["m-02"]["raters"].values()) == [["bug", "feature"], ["feature"], ["feature"]]
    assert sorted(lines["m-03"]["raters"].values()) == [[], [], []]
    assert all(name.startswith("r_") for name in lines["m-02"]["raters"])


def test_splits_stay_and_the_diff_sees_a_changed_set(multi, labels, manager, decided):
    first = release_build(project=multi, user=manager, tag="first", policy={"seed": "s"})
    consensus = ConsensusLabel.objects.get(example__external_id="m-01")
    consensus.labels = _ids(labels, "bug")
    consensus.save(update_fields=["labels"])
    second = release_build(project=multi, user=manager, tag="second", policy={"seed": "s"})
    splits = {line["external_id"]: line["split"] for line in _lines(first).values()}
    assert {key: line["split"] for key, line in _lines(second).items()} == splits
    diff = release_diff(old=first, new=second)
    assert diff["relabeled"] == [{"external_id": "m-01", "old_label": "bug|billing", "new_label": "bug"}]


def test_parquet_has_list_columns(multi, labels, manager, manager_client, decided):
    release = release_build(project=multi, user=manager, policy={"seed": "s", "include_raters": True,
                                                                 "ratios": [1, 0, 0]})  # fmt: skip
    response = manager_client.get(
        f"/api/v1/projects/{multi.slug}/releases/{release.tag}/download/parquet-train/"
    )
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert table.schema.field("label").type == pa.list_(pa.string())
    rows = {row["external_id"]: row for row in table.to_pylist()}
    assert rows["m-01"]["label"] == ["bug", "billing"]
    assert rows["m-03"]["label"] == []
    assert sorted(r["label"] for r in rows["m-02"]["raters"]) == [
        ["bug", "feature"],
        ["feature"],
        ["feature"],
    ]


def test_dawid_skene_is_refused_clearly_for_multi_label_and_span_projects(multi, manager, decided):
    with pytest.raises(ApplicationError, match="Dawid-Skene labels single-label projects only"):
        release_build(project=multi, user=manager, policy={"sources": ["gold", "dawid_skene"]})
    multi.task_type = TaskType.SPANS
    multi.save(update_fields=["task_type"])
    with pytest.raises(ApplicationError, match="Dawid-Skene labels single-label projects only"):
        release_build(project=multi, user=manager, policy={"sources": ["gold", "dawid_skene"]})
    assert not multi.dataset_releases.exists()


def test_a_ready_release_keeps_its_label_sets(multi, labels, manager, decided):
    release = release_build(project=multi, user=manager, policy={"seed": "s"})
    items = DatasetReleaseItem.objects.filter(release=release, external_id="m-01")
    with pytest.raises(DatabaseError), transaction.atomic():
        items.update(labels=["feature"])
    assert items.get().labels == ["bug", "billing"]
