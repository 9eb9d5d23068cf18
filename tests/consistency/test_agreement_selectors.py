"""The selector that turns annotations into arrays for the statistics, and back into names."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consistency.agreement.selectors import (
    agreement_arrays,
    agreement_compute,
    kappa_matrix,
)
from projects.selectors import metadata_fields, slice_field_clean
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, UserFactory


@pytest.fixture
def data(project, other_project):
    labels = list(project.labels.order_by("position"))
    # Reorder positions so label codes follow `position`, not primary keys.
    labels[0].position, labels[3].position = 3, 0
    labels[0].save()
    labels[3].save()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    version = GuidelineVersionFactory(project=project, number=1)
    e1 = ExampleFactory(project=project, metadata={"channel": "chat", "priority": 2})
    e2 = ExampleFactory(project=project, metadata={"channel": "email", "urgent": True})
    e3 = ExampleFactory(project=project, metadata={})
    AnnotationFactory(example=e1, rater=alice, label=labels[0], guideline_version=version)
    AnnotationFactory(example=e1, rater=bob, label=labels[3])
    AnnotationFactory(example=e2, rater=alice, label=labels[1])
    AnnotationFactory(example=e3, rater=bob, label=labels[1])
    # Another project's annotations never leak in.
    # An explicit label: a factory-made one takes a key from a global sequence that can collide.
    AnnotationFactory(
        example=ExampleFactory(project=other_project, metadata={"secret": 1}),
        rater=alice,
        label=other_project.labels.first(),
    )
    return {"e": (e1, e2, e3), "alice": alice, "bob": bob, "labels": labels}


def test_arrays_have_one_row_per_annotation_and_codes_in_label_order(project, data):
    with CaptureQueriesContext(connection) as queries:
        arrays = agreement_arrays(project=project)
    # The labels, then the annotations (on PostgreSQL read by COPY, which Django does not log).
    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)
    e1, e2, e3 = data["e"]
    rows = sorted(zip(arrays.items.tolist(), arrays.raters.tolist(), arrays.labels.tolist(), strict=True))
    alice, bob = data["alice"].pk, data["bob"].pk
    # Label order: other (pos 0), bug, feature, billing (pos 3).
    assert arrays.label_names == ["other", "bug", "feature", "billing"]
    assert rows == sorted([(e1.pk, alice, 3), (e1.pk, bob, 0), (e2.pk, alice, 1), (e3.pk, bob, 1)])
    assert sorted(arrays.versions.tolist()) == [0, 0, 0, 1]
    assert arrays.items.dtype == np.int64


def test_slice_values_are_read_once_per_example(project, data):
    with CaptureQueriesContext(connection) as queries:
        arrays = agreement_arrays(project=project, slice_field="channel")
    assert len(queries) == (2 if connection.vendor == "postgresql" else 3)  # COPY is not logged
    e1, e2, e3 = data["e"]
    values = [arrays.slice_names[code] for code in arrays.slice_codes]
    by_item = dict(zip(arrays.items.tolist(), values, strict=True))
    assert by_item == {e1.pk: "chat", e2.pk: "email", e3.pk: None}


def test_slice_fields_are_the_metadata_keys_of_this_project_only(project, data):
    assert metadata_fields(project=project) == ["channel", "priority", "urgent"]
    assert slice_field_clean(project=project, field="channel") == "channel"
    assert slice_field_clean(project=project, field="secret") == ""
    assert slice_field_clean(project=project, field="channel__icontains") == ""


def test_computed_result_names_raters_and_labels(project, data):
    result = agreement_compute(project=project, slice_field="priority", n_boot=50)
    assert {row["rater"] for row in result["per_rater"]} == {"alice", "bob"}
    assert [row["label"] for row in result["per_label"]] == ["other", "bug", "feature", "billing"]
    assert result["label_confusion"] == [{"label_a": "other", "label_b": "billing", "count": 1}]
    assert {row["value"] for row in result["slices"]["values"]} == {"2", None}
    matrix = kappa_matrix(result=result)
    assert matrix["raters"] == ["alice", "bob"]
    assert matrix["rows"][0]["cells"] == [None, None]  # one shared example: no kappa


def test_gold_labels_give_agreement_with_the_sme_per_rater(project, data):
    e1, e2, _ = data["e"]
    labels = data["labels"]
    result = agreement_compute(project=project, gold={e1.pk: labels[0].pk, e2.pk: labels[2].pk}, n_boot=0)
    rows = {row["rater"]: row["agreement_with_sme_on_disputed"] for row in result["per_rater"]}
    assert {rater: (row["value"], row["n"]) for rater, row in rows.items()} == {
        "alice": (0.5, 2), "bob": (0.0, 1),
    }  # fmt: skip
    assert rows["alice"]["per_label"][0]["label"] in {"billing", "feature"}  # names, not codes
    # With the SME known, the SME's own labels are not scored: alice resolved e1 herself.
    result = agreement_compute(
        project=project, gold={e1.pk: (labels[0].pk, data["alice"].pk), e2.pk: labels[2].pk}, n_boot=0
    )
    rows = {row["rater"]: row["agreement_with_sme_on_disputed"] for row in result["per_rater"]}
    assert (rows["alice"]["value"], rows["alice"]["n"]) == (0.0, 1)
    assert (rows["bob"]["value"], rows["bob"]["n"]) == (0.0, 1)


def test_a_single_guideline_version_row_equals_the_overall_figures(project):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    labels = list(project.labels.all())
    for index in range(6):
        example = ExampleFactory(project=project)
        AnnotationFactory(example=example, rater=alice, label=labels[index % 4])
        AnnotationFactory(example=example, rater=bob, label=labels[index % 3])
    result = agreement_compute(project=project, n_boot=100)
    (row,) = result["by_guideline_version"]
    assert row["version"] is None
    for key in ("n_items", "n_annotations", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1"):
        assert row[key] == result[key]
