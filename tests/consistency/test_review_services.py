"""Resolving and revising disagreements, worked examples in the draft, relabeling after a new
guideline version, and the gold labels feeding per-rater accuracy in the agreement JSON."""

import uuid

import pytest

from consistency import review_services as services
from consistency.agreement import agreement_compute
from consistency.models import ConsensusLabel, Disagreement, GuidelineDraft, Resolution, WorkedExample
from consistency.review_selectors import gold_labels, guideline_section
from consistency.services import guideline_draft_save, guideline_publish
from core.errors import ApplicationError
from labeling import services as labeling
from labeling.models import Annotation, Assignment
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def raters(make_labelers):
    return make_labelers(3)


def label(project, user, name):
    assignment = labeling.assignment_next(project=project, user=user)
    return labeling.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        label_id=project.labels.get(name=name).pk,
        client_token=uuid.uuid4(),
    )


def split_example(
    project, raters, text="I was charged twice for one order", names=("billing", "bug", "billing")
):
    example = ExampleFactory(project=project, text=text)
    for user, name in zip(raters, names, strict=True):
        label(project, user, name)
    return example


def test_resolving_records_gold_closes_the_disagreement_and_updates_consensus(project, raters, sme):
    example = split_example(project, raters)
    disagreement = Disagreement.objects.get(example=example)
    resolution = services.review_resolve(
        project=project,
        user=sme,
        disagreement_id=disagreement.pk,
        verdict="gold",
        label_id=project.labels.get(name="billing").pk,
        rationale="Double charge is a billing problem.",
        guideline_gap=True,
    )
    disagreement.refresh_from_db()
    assert disagreement.status == "resolved"
    assert disagreement.resolved_at is not None
    assert (resolution.sme, resolution.verdict, resolution.guideline_gap) == (sme, "gold", True)
    consensus = ConsensusLabel.objects.get(example=example)
    assert (consensus.source, consensus.label.name, consensus.n_raters) == ("gold", "billing", 3)
    with pytest.raises(ApplicationError):
        services.review_resolve(
            project=project, user=sme, disagreement_id=disagreement.pk, verdict="excluded"
        )


def test_excluding_keeps_the_example_out_with_no_label(project, raters, sme):
    example = split_example(project, raters)
    disagreement = Disagreement.objects.get(example=example)
    services.review_resolve(project=project, user=sme, disagreement_id=disagreement.pk, verdict="excluded")
    consensus = ConsensusLabel.objects.get(example=example)
    assert (consensus.source, consensus.label) == ("excluded", None)


def test_a_revision_supersedes_and_keeps_history(project, raters, sme, manager):
    example = split_example(project, raters)
    disagreement = Disagreement.objects.get(example=example)
    first = services.review_resolve(
        project=project, user=sme, disagreement_id=disagreement.pk, verdict="gold",
        label_id=project.labels.get(name="bug").pk,
    )  # fmt: skip
    second = services.resolution_revise(
        project=project, user=manager, resolution_id=first.pk, verdict="gold",
        label_id=project.labels.get(name="billing").pk, rationale="Charged twice: billing.",
    )  # fmt: skip
    assert second.supersedes == first
    assert ConsensusLabel.objects.get(example=example).label.name == "billing"
    assert Resolution.objects.filter(example=example).count() == 2
    with pytest.raises(ApplicationError, match="already been revised"):
        services.resolution_revise(project=project, user=sme, resolution_id=first.pk, verdict="excluded")
    assert gold_labels(project=project) == {example.pk: project.labels.get(name="billing").pk}


def test_worked_example_is_appended_to_the_draft_under_its_heading(project, raters, sme):
    guideline_draft_save(project=project, user=sme, body="# Guideline\n\n## billing\nMoney problems.")
    example = split_example(project, raters)
    disagreement = Disagreement.objects.get(example=example)
    resolution = services.review_resolve(
        project=project, user=sme, disagreement_id=disagreement.pk, verdict="gold",
        label_id=project.labels.get(name="billing").pk, rationale="the customer asks about a charge",
    )  # fmt: skip
    worked = services.worked_example_add(project=project, user=sme, resolution_id=resolution.pk)
    body = GuidelineDraft.objects.get(project=project).body
    assert body.count("## Worked examples") == 1
    assert (
        f'- "I was charged twice for one order" is **billing**, because the customer asks about a charge '
        f"(example `{example.external_id}`)"
    ) in body
    assert worked.example == example
    assert WorkedExample.objects.count() == 1
    with pytest.raises(ApplicationError):
        services.worked_example_add(project=project, user=sme, resolution_id=resolution.pk)


def test_guideline_section_is_found_by_heading_text():
    body = "# G\n\n## Billing\nMoney.\n### Refunds\nAlso money.\n## Bug\nBroken."
    assert guideline_section(body, "billing") == "## Billing\nMoney.\n### Refunds\nAlso money."
    assert guideline_section(body, "feature") is None


def test_guideline_section_of_a_guideline_with_a_long_line_of_spaces():
    """The heading pattern backtracked on every space: one 5,000-space line took two minutes on
    each review page; a 200,000-character one never finished."""
    body = "# a" + " " * 199_990 + "x\n## Billing ##\nMoney.\n# Next"
    assert guideline_section(body, "billing") == "## Billing ##\nMoney."
    assert (
        guideline_section(body, "a" + " " * 199_990 + "x") == body.split("\n")[0] + "\n## Billing ##\nMoney."
    )


def _publish(project, user, body, changelog):
    guideline_draft_save(project=project, user=user, body=body)
    return guideline_publish(project=project, user=user, changelog=changelog)


def test_relabeling_supersedes_resets_and_lets_the_same_raters_label_again(project, raters, manager):
    _publish(project, manager, "# v1", "first")
    example = split_example(project, raters)
    other = ExampleFactory(project=project)
    for user in raters:
        label(project, user, "bug")
    assert Disagreement.objects.filter(example=example, status="open").exists()
    assert ConsensusLabel.objects.get(example=other).source == "unanimous"
    _publish(project, manager, "# v2\n\nClearer.", "second")

    count = services.relabel_request(project=project, user=manager, scope="older")
    assert count == 2
    for item in (example, other):
        item.refresh_from_db()
        assert item.annotation_count == 0
    assert Annotation.objects.filter(superseded_at__isnull=True).count() == 0
    assert Annotation.objects.count() == 6  # history kept
    assert not Assignment.objects.exists()
    assert not ConsensusLabel.objects.exists()
    assert not Disagreement.objects.filter(status="open").exists()

    # The same raters label the examples again, under v2.
    for user in raters:
        label(project, user, "billing")
        label(project, user, "billing")
    new = Annotation.objects.filter(superseded_at__isnull=True)
    assert new.count() == 6
    assert {a.guideline_version.number for a in new} == {2}
    assert ConsensusLabel.objects.filter(source="unanimous").count() == 2

    result = agreement_compute(project=project, n_boot=50)
    assert result["n_annotations"] == 6  # overall: current annotations only
    by_version = {row["version"]: row for row in result["by_guideline_version"]}
    assert by_version[1]["n_annotations"] == 6
    assert by_version[2]["n_annotations"] == 6


def test_relabel_disagreements_scope_takes_the_resolved_cases(project, raters, manager, sme):
    _publish(project, manager, "# v1", "first")
    example = split_example(project, raters)
    services.review_resolve(
        project=project, user=sme, disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold", label_id=project.labels.get(name="billing").pk, guideline_gap=True,
    )  # fmt: skip
    ExampleFactory(project=project)
    _publish(project, manager, "# v2", "second")
    assert services.relabel_request(project=project, user=manager, scope="disagreements") == 1
    example.refresh_from_db()
    assert example.annotation_count == 0
    # Resolutions stay as history.
    assert Resolution.objects.filter(example=example).count() == 1
    assert services.relabel_request(project=project, user=manager, scope="sample", n=5, seed=1) == 0


def test_per_rater_accuracy_against_gold_in_the_agreement_json(project, raters, sme):
    example = split_example(project, raters, names=("billing", "bug", "billing"))
    services.review_resolve(
        project=project, user=sme, disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold", label_id=project.labels.get(name="billing").pk,
    )  # fmt: skip
    result = agreement_compute(project=project, gold=gold_labels(project=project), n_boot=50)
    rows = {row["rater"]: row for row in result["per_rater"]}
    assert rows["rater0"]["gold_accuracy"] == 1.0
    assert rows["rater1"]["gold_accuracy"] == 0.0
    assert rows["rater1"]["gold_accuracy_per_label"] == [{"label": "billing", "n_gold": 1, "accuracy": 0.0}]


def test_agreement_reports_take_gold_from_current_resolutions(project, raters, sme):
    from consistency.report_services import agreement_report_compute

    example = split_example(project, raters, names=("billing", "bug", "billing"))
    services.review_resolve(
        project=project, user=sme, disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold", label_id=project.labels.get(name="bug").pk,
    )  # fmt: skip
    report = agreement_report_compute(project_id=project.pk)
    rows = {row["rater"]: row for row in report.result["per_rater"]}
    assert rows["rater1"]["gold_accuracy"] == 1.0
    assert rows["rater0"]["gold_accuracy_per_label"] == [{"label": "bug", "n_gold": 1, "accuracy": 0.0}]
