"""Agreement reports over data the app itself produced by relabeling: the same examples sent back
twice under one guideline version, and the per-version breakdown that keeps each rater's latest
label under each version."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command

from consistency.agreement.models import AgreementReport
from consistency.agreement.services import agreement_report_compute
from consistency.review import services as review
from labeling.models import Disagreement
from labeling.services import annotations as labeling
from projects.services.guidelines import guideline_draft_save, guideline_publish
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def publish(project, user, body):
    guideline_draft_save(project=project, user=user, body=body)
    return guideline_publish(project=project, user=user, changelog=body)


def label_all(project, raters, plan):
    """Each rater labels every example waiting for them; `plan[external_id]` lists the labels by rater."""
    labels = {label.name: label.pk for label in project.labels.all()}
    for index, rater in enumerate(raters):
        while (assignment := labeling.assignment_next(project=project, user=rater)) is not None:
            name = plan[assignment.example.external_id][index]
            labeling.annotation_submit(
                project=project,
                user=rater,
                example_id=assignment.example_id,
                label_id=labels[name],
                client_token=uuid.uuid4(),
            )


def resolve_open(project, sme, label_name="billing"):
    for disagreement in Disagreement.objects.filter(project=project, status="open"):
        review.review_resolve(
            project=project,
            user=sme,
            disagreement_id=disagreement.pk,
            verdict="gold",
            label_id=project.labels.get(name=label_name).pk,
            guideline_gap=True,
        )


SPLIT = ("billing", "bug", "feature")
SAME = ("bug", "bug", "bug")


def test_relabeling_the_disagreements_twice_under_one_version_keeps_reports_working(
    project, make_labelers, manager, sme
):
    raters = make_labelers(3)
    publish(project, manager, "# v1")
    plan = {f"e{i}": SPLIT if i < 2 else SAME for i in range(4)}
    for external_id in plan:
        ExampleFactory(project=project, external_id=external_id)
    label_all(project, raters, plan)
    resolve_open(project, sme)
    publish(project, manager, "# v2\n\nClearer.")

    # "The disagreements" twice under v2: the same two examples go back twice.
    assert review.relabel_request(project=project, user=manager, scope="disagreements") == 2
    label_all(project, raters, plan)
    assert review.relabel_request(project=project, user=manager, scope="disagreements") == 2
    second_round = {"e0": SAME, "e1": SAME}
    label_all(project, raters, second_round)

    report = agreement_report_compute(project_id=project.pk)
    assert report.status == AgreementReport.Status.SUCCEEDED, report.error
    result = report.result
    # Current annotations: 4 examples x 3 raters, the relabeled ones with their newest labels.
    assert result["n_annotations"] == 12
    by_version = {row["version"]: row for row in result["by_guideline_version"]}
    assert by_version[1]["n_annotations"] == 12
    # Under v2 each rater's latest label per example counts once: 2 examples x 3 raters.
    assert by_version[2]["n_annotations"] == 6
    assert by_version[2]["n_items"] == 2
    # The latest v2 labels are unanimous (the first v2 round split), so v2 agreement is perfect.
    assert by_version[2]["percent_agreement"]["value"] == 1.0


# Before/after through the real services. v1: 36 examples unanimous, 24 split 2-1 (queued, resolved,
# sent back as "the disagreements"). v2 labels the same 60 patterns in another order, so nothing
# changed overall; but half the disputed examples now come out unanimous (regression to the mean),
# and a third of the formerly unanimous ones split.
UNANIMOUS = [("bug",) * 3, ("feature",) * 3]
SPLITS = [("billing", "billing", "bug"), ("feature", "feature", "other")]


def v1_plan():
    plan = {f"u{i}": UNANIMOUS[i % 2] for i in range(36)}
    plan.update({f"d{i}": SPLITS[i % 2] for i in range(24)})
    return plan


def v2_plan():
    """The same multiset of 60 patterns: 12 disputed become unanimous, 12 unanimous become split."""
    plan = {}
    for i in range(24):
        plan[f"d{i}"] = UNANIMOUS[i % 2] if i < 12 else SPLITS[i % 2]
    for i in range(36):
        plan[f"u{i}"] = SPLITS[i % 2] if i < 12 else UNANIMOUS[i % 2]
    return plan


def test_before_after_leaves_out_the_disagreements_and_compares_a_label_blind_relabeling(
    project, make_labelers, manager, sme
):
    raters = make_labelers(3)
    publish(project, manager, "# v1")
    for external_id in v1_plan():
        ExampleFactory(project=project, external_id=external_id)
    label_all(project, raters, v1_plan())
    assert Disagreement.objects.filter(status="open").count() == 24
    resolve_open(project, sme)
    publish(project, manager, "# v2\n\nClearer.")

    # Only the disagreements go back: a second labeling of them looks better by selection alone.
    assert review.relabel_request(project=project, user=manager, scope="disagreements") == 24
    label_all(project, raters, {f"d{i}": UNANIMOUS[i % 2] for i in range(24)})
    (comparison,) = agreement_report_compute(project_id=project.pk).result["before_after"]
    assert (comparison["before"], comparison["after"]) == (1, 2)
    assert comparison["n_paired"] == 0
    assert comparison["n_left_out_outcome_selected"] == 24
    assert comparison["too_few"] is True
    for coefficient in comparison["coefficients"].values():
        assert coefficient["verdict"] == "not_distinguishable"

    # Every example labeled under v1 goes back: the 36 agreeing ones and the 24 disputed ones alike,
    # so the comparison rests on examples chosen whatever their labels were.
    assert review.relabel_request(project=project, user=manager, scope="older") == 60
    label_all(project, raters, v2_plan())
    report = agreement_report_compute(project_id=project.pk)
    (comparison,) = report.result["before_after"]
    assert comparison["n_paired"] == 60
    assert comparison["n_left_out_outcome_selected"] == 0
    assert comparison["too_few"] is False
    for name, coefficient in comparison["coefficients"].items():
        assert coefficient["difference"]["value"] == pytest.approx(0.0, abs=1e-12), name
        low, high = coefficient["difference"]["ci95"]
        assert low < 0 < high
        assert coefficient["verdict"] == "not_distinguishable", name
    # The per-version rows describe different sets of labels: v2's holds the newest per rater.
    by_version = {row["version"]: row for row in report.result["by_guideline_version"]}
    assert by_version[2]["n_items"] == 60
    out = StringIO()
    call_command("agreement", project.slug, stdout=out)
    assert "v1 -> v2 on the same 60 examples (paired bootstrap)" in out.getvalue()
    assert "fleiss kappa         0.593 -> 0.593, change 0.000 [" in out.getvalue()
    assert "not distinguishable" in out.getvalue()
