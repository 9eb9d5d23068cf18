"""A release carries an SME's rationale only on the gold label it was written for: never on a label
that came from the raters (majority, unanimous) or from Dawid-Skene."""

import json

import pytest
from django.core.files.storage import default_storage

from consistency.releases.services import release_build
from consistency.review.services import examples_relabel, review_resolve
from labeling.models import Disagreement
from labeling.services.decisions import examples_decide
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory

RATIONALE = "A double charge is a billing problem, whatever else the customer mentions."


def _lines(release) -> dict[str, dict]:
    with default_storage.open(release.jsonl_file, "rb") as handle:
        return {line["external_id"]: line for line in map(json.loads, handle.read().split(b"\n")[:-1])}


def _vote(project, example, raters, names, version):
    labels = {label.name: label for label in project.labels.all()}
    for rater, name in zip(raters, names, strict=True):
        AnnotationFactory(example=example, rater=rater, label=labels[name], guideline_version=version)
    example.annotation_count = len(names)
    example.save(update_fields=["annotation_count"])
    examples_decide(project=project, example_ids=[example.pk])


@pytest.fixture
def resolved_then_relabeled(project, sme, make_labelers):
    """Two examples an SME resolved as billing with a rationale, both later sent back for
    relabeling under guideline version 2: one came back a 2-of-3 majority for bug, the other
    split (no consensus, so only Dawid-Skene can label it)."""
    raters = make_labelers(6)
    v1 = GuidelineVersionFactory(project=project, number=1)
    project.accept_majority = True
    project.save()
    examples = {}
    for name in ("majority", "dawid"):
        example = ExampleFactory(project=project, external_id=name)
        _vote(project, example, raters[:3], ["billing", "bug", "feature"], v1)
        review_resolve(
            project=project,
            user=sme,
            disagreement_id=Disagreement.objects.get(example=example).pk,
            verdict="gold",
            label_id=project.labels.get(name="billing").pk,
            rationale=RATIONALE,
        )
        examples[name] = example
    v2 = GuidelineVersionFactory(project=project, number=2)
    examples_relabel(project=project, example_ids=[e.pk for e in examples.values()])
    _vote(project, examples["majority"], raters[3:], ["bug", "bug", "billing"], v2)
    _vote(project, examples["dawid"], raters[3:5], ["bug", "other"], v2)
    # Enough unanimous examples for Dawid-Skene to learn that these raters are reliable.
    for n in range(20):
        _vote(project, ExampleFactory(project=project, external_id=f"u{n}"), raters[3:6], ["bug"] * 3, v2)
    return examples


def test_a_majority_label_never_carries_the_rationale_of_an_earlier_gold_label(
    project, manager, resolved_then_relabeled
):
    release = release_build(project=project, user=manager, policy={"include_rationale": True})
    line = _lines(release)["majority"]
    assert (line["label"], line["source"]) == ("bug", "majority")
    assert line["rationale"] is None


def test_a_dawid_skene_label_never_carries_an_sme_rationale(project, manager, resolved_then_relabeled):
    policy = {"include_rationale": True, "sources": ["gold", "unanimous", "majority", "dawid_skene"]}
    release = release_build(project=project, user=manager, policy={**policy, "min_posterior": 0.5})
    line = _lines(release)["dawid"]
    assert line["source"] == "dawid_skene"
    assert line["rationale"] is None


def test_a_gold_label_keeps_its_rationale(project, manager, sme, make_labelers):
    raters = make_labelers(3)
    example = ExampleFactory(project=project, external_id="gold")
    _vote(project, example, raters, ["billing", "bug", "feature"], None)
    review_resolve(
        project=project,
        user=sme,
        disagreement_id=Disagreement.objects.get(example=example).pk,
        verdict="gold",
        label_id=project.labels.get(name="billing").pk,
        rationale=RATIONALE,
    )
    release = release_build(project=project, user=manager, policy={"include_rationale": True})
    line = _lines(release)["gold"]
    assert (line["label"], line["source"], line["rationale"]) == ("billing", "gold", RATIONALE)
