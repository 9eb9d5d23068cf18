"""Resolving and revising disagreements, worked examples in the draft, relabeling after a new
guideline version, and the SME labels feeding each rater's agreement with the SME in the agreement JSON."""

import uuid

import pytest

from consistency.agreement.selectors import agreement_compute
from consistency.review import services
from consistency.review.models import RelabelRequest, Resolution, WorkedExample
from consistency.review.selectors import gold_labels, guideline_section
from core.errors import ApplicationError
from labeling.models import Annotation, Assignment, ConsensusLabel, Disagreement
from labeling.services import annotations as labeling
from projects.models import GuidelineDraft
from projects.services.guidelines import guideline_draft_save, guideline_publish
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


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
            project=project, user=sme, disagreement_id=disagreement.pk, verdict="excluded", rationale="Both."
        )


def test_excluding_keeps_the_example_out_with_no_label(project, raters, sme):
    example = split_example(project, raters)
    disagreement = Disagreement.objects.get(example=example)
    services.review_resolve(
        project=project, user=sme, disagreement_id=disagreement.pk, verdict="excluded",
        rationale="Both readings hold.",
    )  # fmt: skip
    consensus = ConsensusLabel.objects.get(example=example)
    assert (consensus.source, consensus.label) == ("excluded", None)


@pytest.mark.parametrize("rationale", ["", "   \n\t "])
def test_excluding_needs_a_rationale_and_changes_nothing_without_one(project, raters, sme, rationale):
    example = split_example(project, raters)
    disagreement = Disagreement.objects.get(example=example)
    with pytest.raises(ApplicationError, match="needs a rationale") as refused:
        services.review_resolve(
            project=project, user=sme, disagreement_id=disagreement.pk, verdict="excluded",
            rationale=rationale,
        )  # fmt: skip
    assert "rationale" in refused.value.extra  # the API names the field
    first = services.review_resolve(
        project=project, user=sme, disagreement_id=disagreement.pk, verdict="gold",
        label_id=project.labels.get(name="bug").pk,
    )  # fmt: skip
    with pytest.raises(ApplicationError, match="needs a rationale"):
        services.resolution_revise(
            project=project, user=sme, resolution_id=first.pk, verdict="excluded", rationale=rationale
        )
    assert Resolution.objects.filter(example=example).count() == 1
    assert ConsensusLabel.objects.get(example=example).source == "gold"


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
        services.resolution_revise(
            project=project, user=sme, resolution_id=first.pk, verdict="excluded", rationale="Both."
        )
    assert gold_labels(project=project) == {example.pk: (project.labels.get(name="billing").pk, manager.pk)}


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


def _resolved_in_draft(project, raters, sme, *, explanation=""):
    """A case resolved as billing and added to a draft that already has other content."""
    guideline_draft_save(project=project, user=sme, body="# Guideline\n\n## billing\nMoney problems.")
    example = split_example(project, raters)
    resolution = services.review_resolve(
        project=project, user=sme, disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold", label_id=project.labels.get(name="billing").pk, rationale="it is about a charge",
    )  # fmt: skip
    services.worked_example_add(
        project=project, user=sme, resolution_id=resolution.pk, explanation=explanation
    )
    return example, resolution


def draft_body(project) -> str:
    return GuidelineDraft.objects.get(project=project).body


def test_the_worked_example_box_never_writes_because_twice(project, raters, sme):
    example, _ = _resolved_in_draft(project, raters, sme, explanation="Because: the order was paid twice")
    assert "because because" not in draft_body(project).lower()
    assert ", because the order was paid twice (example" in draft_body(project)


def test_a_revision_rewrites_its_worked_example_in_the_draft(project, raters, sme):
    example, first = _resolved_in_draft(project, raters, sme)
    second = services.resolution_revise(
        project=project, user=sme, resolution_id=first.pk, verdict="gold",
        label_id=project.labels.get(name="bug").pk, rationale="because the charge came from a bug",
    )  # fmt: skip
    body = draft_body(project)
    assert "**billing**" not in body  # the old decision no longer speaks in the draft
    line = (
        f'- "I was charged twice for one order" is **bug**, because the charge came from a bug '
        f"(example `{example.external_id}`)"
    )
    assert body.count(f"(example `{example.external_id}`)") == 1
    assert line in body
    assert body.startswith("# Guideline\n\n## billing\nMoney problems.\n\n## Worked examples\n")
    assert second.worked_example.text == line
    # Adding the current decision again never repeats the line.
    with pytest.raises(ApplicationError, match="already a worked example"):
        services.worked_example_add(project=project, user=sme, resolution_id=second.pk)
    # The superseded decision cannot be added back either.
    with pytest.raises(ApplicationError, match="revised since"):
        services.worked_example_add(project=project, user=sme, resolution_id=first.pk)
    third = services.resolution_revise(
        project=project, user=sme, resolution_id=second.pk, verdict="excluded", rationale="both fit"
    )
    body = draft_body(project)
    assert "**bug**" not in body
    assert "is genuinely ambiguous and kept out of the dataset, because both fit" in body
    assert third.worked_example.text in body
    assert body.count(f"(example `{example.external_id}`)") == 1


def test_a_revision_finds_a_reworded_line_and_keeps_crlf_line_endings(project, raters, sme):
    example, first = _resolved_in_draft(project, raters, sme)
    # Edited in a browser: CRLF line endings, and the SME reworded the line but kept its example id.
    reworded = draft_body(project).replace("it is about a charge", "money left twice").replace("\n", "\r\n")
    guideline_draft_save(project=project, user=sme, body=reworded)
    services.resolution_revise(
        project=project, user=sme, resolution_id=first.pk, verdict="gold",
        label_id=project.labels.get(name="bug").pk, rationale="a bug charged twice",
    )  # fmt: skip
    body = draft_body(project)
    assert "money left twice" not in body
    assert "is **bug**, because a bug charged twice" in body
    assert "\n" not in body.replace("\r\n", "")  # every line ending is still CRLF


def test_a_revision_leaves_a_draft_whose_line_was_removed_alone(project, raters, sme):
    example, first = _resolved_in_draft(project, raters, sme)
    by_hand = "# Guideline\n\nRewritten from scratch."
    guideline_draft_save(project=project, user=sme, body=by_hand)
    second = services.resolution_revise(
        project=project, user=sme, resolution_id=first.pk, verdict="gold",
        label_id=project.labels.get(name="bug").pk,
    )  # fmt: skip
    assert draft_body(project) == by_hand
    assert not WorkedExample.objects.filter(resolution=second).exists()
    services.worked_example_add(project=project, user=sme, resolution_id=second.pk)
    assert draft_body(project).count(f"(example `{example.external_id}`)") == 1


def test_adding_the_new_decision_replaces_a_line_left_from_the_old_one(project, raters, sme):
    # E.g. a revision made before revisions followed their worked example.
    example, first = _resolved_in_draft(project, raters, sme)
    second = services.resolution_revise(
        project=project, user=sme, resolution_id=first.pk, verdict="gold",
        label_id=project.labels.get(name="bug").pk,
    )  # fmt: skip
    WorkedExample.objects.filter(resolution=second).delete()
    guideline_draft_save(
        project=project, user=sme, body=draft_body(project).replace("**bug**", "**billing**")
    )
    services.worked_example_add(project=project, user=sme, resolution_id=second.pk, explanation="a bug")
    body = draft_body(project)
    assert body.count(f"(example `{example.external_id}`)") == 1
    assert "is **bug**, because a bug" in body


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


def test_a_relabeled_example_is_offered_at_once_even_while_it_was_leased(project, raters):
    """Relabeling frees every seat, leases included: with k = 1 an example leased when it is sent
    back goes to the next labeler at once, not when the dropped lease would have ended."""
    project.overlap = 1
    project.save()
    example = ExampleFactory(project=project)
    holder, other = raters[0], raters[1]
    assert labeling.assignment_next(project=project, user=holder).example_id == example.pk
    assert labeling.assignment_next(project=project, user=other) is None  # its one seat is leased
    assert services.examples_relabel(project=project, example_ids=[example.pk]) == 1
    assert labeling.assignment_next(project=project, user=other).example_id == example.pk


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
    # Each request is recorded with its scope and its examples.
    request = RelabelRequest.objects.get()
    assert (request.scope, request.n_examples, request.guideline_version.number) == ("disagreements", 1, 2)
    assert list(request.examples.values_list("example_id", flat=True)) == [example.pk]
    # A sample draws from every example labeled under an older version, those sent back for their
    # disagreements included (else it would pick the agreeing ones); once drawn, it is not again.
    assert services.relabel_request(project=project, user=manager, scope="sample", n=5, seed=1) == 1
    sample = RelabelRequest.objects.get(scope="sample")
    assert (sample.sample_size, sample.seed, sample.n_examples) == (5, 1, 1)
    assert services.relabel_request(project=project, user=manager, scope="older") == 0


def test_agreement_with_the_sme_on_disputed_examples_in_the_agreement_json(project, raters, sme):
    example = split_example(project, raters, names=("billing", "bug", "billing"))
    services.review_resolve(
        project=project, user=sme, disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold", label_id=project.labels.get(name="billing").pk,
    )  # fmt: skip
    result = agreement_compute(project=project, gold=gold_labels(project=project), n_boot=50)
    rows = {row["rater"]: row["agreement_with_sme_on_disputed"] for row in result["per_rater"]}
    assert (rows["rater0"]["value"], rows["rater0"]["n"]) == (1.0, 1)
    assert rows["rater1"]["value"] == 0.0
    assert rows["rater1"]["per_label"] == [
        {"label": "billing", "value": 0.0, "ci95": [0.0, pytest.approx(0.7935, abs=1e-4)], "n": 1}
    ]


def test_agreement_reports_take_the_sme_labels_from_current_resolutions(project, raters, sme):
    from consistency.agreement.services import agreement_report_compute

    example = split_example(project, raters, names=("billing", "bug", "billing"))
    services.review_resolve(
        project=project, user=sme, disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold", label_id=project.labels.get(name="bug").pk,
    )  # fmt: skip
    report = agreement_report_compute(project_id=project.pk)
    rows = {row["rater"]: row["agreement_with_sme_on_disputed"] for row in report.result["per_rater"]}
    assert rows["rater1"]["value"] == 1.0
    assert [(c["label"], c["n"], c["value"]) for c in rows["rater0"]["per_label"]] == [("bug", 1, 0.0)]


def test_an_smes_own_labels_are_never_scored_against_their_own_resolution(project, raters, manager):
    """Rater 0 later became the project's SME and resolved the example they had labeled."""
    from consistency.agreement.services import agreement_report_compute

    example = split_example(project, raters, names=("billing", "bug", "billing"))
    services.review_resolve(
        project=project, user=raters[0], disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold", label_id=project.labels.get(name="billing").pk,
    )  # fmt: skip
    rows = {
        row["rater"]: row["agreement_with_sme_on_disputed"]
        for row in agreement_report_compute(project_id=project.pk).result["per_rater"]
    }
    assert rows["rater0"] == {"value": None, "ci95": None, "n": 0, "per_label": []}
    assert (rows["rater2"]["value"], rows["rater2"]["n"]) == (1.0, 1)
