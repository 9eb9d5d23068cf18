"""The agreement JSON contract: keys and types, names instead of codes, the CLI and the API agree."""

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from consistency.agreement.models import AgreementReport
from consistency.agreement.services import agreement_report_compute
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, UserFactory

COEFFICIENTS = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")

# Four raters label six examples; channel "email" for even examples, "chat" for odd ones.
PLAN = {
    0: ["billing", "billing", "billing", "bug"],
    1: ["bug", "bug", "bug", "bug"],
    2: ["feature", "feature", "other", "feature"],
    3: ["other", "other", "other", "billing"],
    4: ["billing", "bug", "billing", "billing"],
    5: ["feature", "feature", "feature", "feature"],
}


@pytest.fixture
def rated_project(project):
    labels = {label.name: label for label in project.labels.all()}
    raters = [UserFactory(username=name) for name in ("alice", "bob", "carol", "dave")]
    v1 = GuidelineVersionFactory(project=project, number=1)
    v2 = GuidelineVersionFactory(project=project, number=2)
    for index, names in PLAN.items():
        example = ExampleFactory(
            project=project,
            external_id=f"t{index}",
            metadata={"channel": "email" if index % 2 == 0 else "chat"},
        )
        for rater, name in zip(raters, names, strict=True):
            version = v1 if index < 3 else (v2 if rater.username != "dave" else None)
            AnnotationFactory(example=example, rater=rater, label=labels[name], guideline_version=version)
    return project


def assert_estimate(estimate):
    # "reason" stays the sentence it always was; "reason_code" names it for scripts.
    assert set(estimate) == {"value", "ci95", "reason", "reason_code"}
    if estimate["value"] is None:
        assert isinstance(estimate["reason"], str)
        assert estimate["reason"].endswith(".")
        assert re.fullmatch(r"[a-z_]+", estimate["reason_code"])
        assert estimate["ci95"] is None
    else:
        assert estimate["reason"] is estimate["reason_code"] is None
        assert isinstance(estimate["value"], float)
        low, high = estimate["ci95"]
        assert -1.0 <= low <= high <= 1.0


def test_report_json_has_every_key_with_names_not_codes(rated_project):
    report = agreement_report_compute(project_id=rated_project.pk, slice_field="channel")
    assert report.status == AgreementReport.Status.SUCCEEDED
    result = json.loads(json.dumps(report.result))  # JSON-ready, no NumPy types
    assert result["n_items"] == 6
    assert result["n_raters"] == 4
    assert result["n_annotations"] == 24
    assert report.n_annotations == 24
    assert (result["ordinal"], result["kappa_weights"]) == (False, None)
    for name in COEFFICIENTS:
        assert_estimate(result[name])
    assert result["percent_agreement"]["value"] == pytest.approx((0.5 + 1 + 0.5 + 0.5 + 0.5 + 1) / 6)

    pairs = {(p["rater_a"], p["rater_b"]) for p in result["cohen_kappa"]}
    assert pairs == {
        ("alice", "bob"), ("alice", "carol"), ("alice", "dave"),
        ("bob", "carol"), ("bob", "dave"), ("carol", "dave"),
    }  # fmt: skip
    for pair in result["cohen_kappa"]:
        assert pair["n"] == 6
        assert {"rater_a", "rater_b", "n", "value", "ci95"} <= set(pair)

    assert [row["label"] for row in result["per_label"]] == ["billing", "bug", "feature", "other"]
    assert [row["rater"] for row in result["per_rater"]] == ["alice", "bob", "carol", "dave"]
    assert {"mean_kappa", "loo_agreement", "agreement_with_sme_on_disputed"} <= set(result["per_rater"][0])
    assert not {"gold_accuracy", "n_gold", "gold_accuracy_per_label"} & set(result["per_rater"][0])
    assert set(result["per_rater"][0]["agreement_with_sme_on_disputed"]) == {
        "value",
        "ci95",
        "n",
        "per_label",
    }
    confused = {(row["label_a"], row["label_b"]) for row in result["label_confusion"]}
    assert ("billing", "bug") in confused
    assert isinstance(result["diagnostics"], list)
    assert all(isinstance(d["message"], str) for d in result["diagnostics"])
    assert result["computed_at"].startswith(str(report.created_at.year))

    versions = result["by_guideline_version"]
    assert [row["version"] for row in versions] == [1, 2, None]
    assert [row["n_annotations"] for row in versions] == [12, 9, 3]
    for row in versions:
        for name in COEFFICIENTS:
            assert_estimate(row[name])

    # No example was labeled under both versions: the comparison says so instead of guessing.
    (comparison,) = result["before_after"]
    assert {k: comparison[k] for k in ("before", "after", "n_paired", "n_left_out_outcome_selected")} == {
        "before": 1, "after": 2, "n_paired": 0, "n_left_out_outcome_selected": 0,
    }  # fmt: skip
    assert comparison["too_few"] is True
    assert comparison["min_paired"] == 30
    assert set(comparison["coefficients"]) == set(COEFFICIENTS)
    for coefficient in comparison["coefficients"].values():
        assert set(coefficient) == {"before", "after", "difference", "verdict", "message"}
        assert set(coefficient["difference"]) == {"value", "ci95", "reason", "reason_code"}
        assert coefficient["verdict"] == "not_distinguishable"
        assert coefficient["difference"]["reason_code"] == "not_paired"
        assert "no comparison. No example has two or more usable ratings" in coefficient["message"]

    slices = result["slices"]
    assert slices["field"] == "channel"
    assert {row["value"]: row["n_items"] for row in slices["values"]} == {"email": 3, "chat": 3}


def test_report_of_a_project_without_annotations_has_nulls_with_reasons(project):
    report = agreement_report_compute(project_id=project.pk)
    assert report.status == AgreementReport.Status.SUCCEEDED
    result = report.result
    assert result["n_annotations"] == 0
    for name in COEFFICIENTS:
        assert result[name]["value"] is None
        assert result[name]["reason"]
    assert result["cohen_kappa"] == []
    assert result["by_guideline_version"] == []
    assert result["diagnostics"][0]["code"] == "no_data"


def test_one_rater_only_gives_reasons_not_errors(project):
    rater = UserFactory(username="solo")
    label = project.labels.first()
    for _ in range(3):
        AnnotationFactory(example=ExampleFactory(project=project), rater=rater, label=label)
    result = agreement_report_compute(project_id=project.pk).result
    assert result["fleiss_kappa"]["value"] is None
    assert "one rater" in result["fleiss_kappa"]["reason"].lower()


def test_cli_json_parses_and_matches_the_api(rated_project, manager_client):
    out = StringIO()
    call_command("agreement", "support", "--json", "--slice", "channel", stdout=out)
    printed = json.loads(out.getvalue())
    response = manager_client.get("/api/v1/projects/support/agreement/")
    assert response.status_code == 200
    assert response.json() == printed
    assert printed["slices"]["field"] == "channel"


def test_cli_without_json_prints_a_table(rated_project):
    out = StringIO()
    call_command("agreement", "support", stdout=out)
    text = out.getvalue()
    assert "fleiss kappa" in text
    assert "24 annotations" in text
    assert "v1 -> v2: no example labeled under both versions to compare" in text


def test_cli_rejects_an_unknown_slice_field_and_project(rated_project):
    with pytest.raises(CommandError, match="not a metadata field"):
        call_command("agreement", "support", "--slice", "channel__contains", stdout=StringIO())
    with pytest.raises(CommandError, match="No project"):
        call_command("agreement", "nope", stdout=StringIO())
    assert not AgreementReport.objects.exists()
