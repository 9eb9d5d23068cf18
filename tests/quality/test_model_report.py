"""Human-level performance and a model's accuracy per slice, on seeded data with planted rater and
model accuracies: the report's figures equal counts done by hand here, and the slice with the
largest planted gap comes first. The statistics are checked against statsmodels."""

import io
import json
import random

import numpy as np
import pytest
from django.core.management import call_command
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from consistency.agreement.selectors import hlp_live
from consistency.quality import statistics as stats
from labeling.models import ConsensusLabel
from projects.models import GoldLabel, Prediction, PredictionSet
from projects.services.tags import example_tag_add
from tests.factories import AnnotationFactory, ExampleFactory

# channel -> (gold examples, rater error every nth annotation, model wrong on the first m)
PLANT = {"email": (12, 6, 2), "chat": (12, 4, 7), "phone": (8, 0, 1)}


@pytest.fixture
def seeded(project, make_labelers, sme):
    raters = make_labelers(3)
    labels = list(project.labels.order_by("position"))
    rng = random.Random(14)
    model = PredictionSet.objects.create(project=project, model_name="clf", version="1", file_sha256="x")
    truth = []  # (example, channel, gold label, model label, [(rater, label)])
    counter = 0
    for channel, (n, every, wrong) in PLANT.items():
        for i in range(n):
            example = ExampleFactory(project=project, metadata={"channel": channel})
            gold = rng.choice(labels)
            other = next(label for label in labels if label != gold)
            GoldLabel.objects.create(
                project=project, example=example, label=gold, source=GoldLabel.Source.SAMPLED, labeled_by=sme
            )
            predicted = other if i < wrong else gold
            Prediction.objects.create(prediction_set=model, example=example, label=predicted)
            votes = []
            for rater in raters:
                counter += 1
                label = other if every and counter % every == 0 else gold
                AnnotationFactory(example=example, rater=rater, label=label)
                votes.append((rater, label))
            AnnotationFactory(example=example, rater=sme, label=other)  # the gold's author: never scored
            ConsensusLabel.objects.create(
                example=example,
                label=gold,
                source=ConsensusLabel.Source.UNANIMOUS,
                decided_at=example.created_at,
            )
            truth.append((example, channel, gold, predicted, votes))
            if channel == "chat" and i % 2 == 0:
                example_tag_add(project=project, user=sme, example_id=example.pk, name="sarcasm")
    # Examples without gold count in the shares only.
    for _ in range(8):
        ExampleFactory(project=project, metadata={"channel": "email"})
    return truth


def _by_hand(truth, channel=None):
    rows = [t for t in truth if channel is None or t[1] == channel]
    model_hits = sum(predicted == gold for _, _, gold, predicted, _ in rows)
    human = [(label == gold) for _, _, gold, _, votes in rows for _, label in votes]
    return model_hits, len(rows), sum(human), len(human)


def _report(project, *args):
    out = io.StringIO()
    call_command("model_report", project.slug, "--model", "clf", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_model_report_per_slice_equals_counts_by_hand(project, seeded):
    report = _report(project, "--slice", "channel")
    model_hits, n_gold, human_hits, n_human = _by_hand(seeded)
    assert report["n_gold"] == n_gold == 32
    assert report["model_accuracy"]["value"] == pytest.approx(model_hits / n_gold)
    assert report["hlp"]["value"] == pytest.approx(human_hits / n_human)  # the SME's own labels left out
    assert report["hlp"]["ci95"] == pytest.approx(
        list(proportion_confint(human_hits, n_human, method="wilson"))
    )
    assert [row["value"] for row in report["slices"]][0] == "chat"  # the largest planted gap first
    gaps = [row["gap"] for row in report["slices"]]
    assert gaps == sorted(gaps, reverse=True)
    n_examples = 32 + 8
    for row in report["slices"]:
        model_hits, n_gold, human_hits, n_human = _by_hand(seeded, row["value"])
        assert set(row) >= {"value", "n_gold", "share", "model_accuracy", "hlp", "gap", "gap_ci95"}
        assert row["n_gold"] == n_gold
        assert row["model_accuracy"]["value"] == pytest.approx(model_hits / n_gold)
        assert row["hlp"]["value"] == pytest.approx(human_hits / n_human)
        assert row["gap"] == pytest.approx(human_hits / n_human - model_hits / n_gold)
        size = PLANT[row["value"]][0] + (8 if row["value"] == "email" else 0)
        assert row["share"] == pytest.approx(size / n_examples)
        low, high = row["gap_ci95"]
        assert low <= row["gap"] <= high
    # 32 gold examples: enough for a verdict, which follows the gap's own interval.
    low, high = report["gap_ci95"]
    expected = (
        "model_below_human_level"
        if low > 0
        else "model_above_human_level"
        if high < 0
        else "not_distinguishable"
    )
    assert report["gap_verdict"] == expected
    assert "on 32 gold examples" in report["gap_sentence"]
    kappa = report["model_kappa_vs_consensus"]
    assert kappa["n"] == 32
    assert kappa["ci95"][0] < kappa["value"] < kappa["ci95"][1]


def test_tags_are_slices_of_the_model_report_and_of_hlp(project, seeded):
    report = _report(project, "--tag")
    (row,) = report["slices"]
    tagged = [t for t in seeded if t[1] == "chat" and seeded.index(t) % 2 == 0]
    model_hits = sum(p == g for _, _, g, p, _ in tagged)
    assert (row["value"], row["n_gold"]) == ("sarcasm", len(tagged))
    assert row["model_accuracy"]["value"] == pytest.approx(model_hits / len(tagged))
    live = hlp_live(project=project, tags=True)
    human = [label == g for _, _, g, _, votes in tagged for _, label in votes]
    assert live["per_slice"][0]["value"] == pytest.approx(sum(human) / len(human))
    per_rater = {row["rater"]: row for row in live["per_rater"]}
    assert "sme" not in per_rater  # the gold's author is never scored against it
    assert sum(row["n"] for row in per_rater.values()) == live["overall"]["n"] == 32 * 3


def test_gap_interval_is_newcombes_hybrid_score():
    for a, n_a, b, n_b in [(45, 50, 30, 50), (9, 10, 2, 12), (0, 5, 5, 5), (100, 100, 97, 120)]:
        low, high = stats.difference_interval(a, n_a, b, n_b)
        ref = confint_proportions_2indep(a, n_a, b, n_b, method="newcomb", compare="diff")
        assert (low, high) == pytest.approx(ref, abs=1e-9)
    assert stats.difference_interval(1, 0, 1, 2) is None


def test_report_without_gold_or_slices_has_no_figures():
    empty = np.zeros(0, dtype=np.int64)
    report = stats.model_report(
        gold_examples=empty, model_correct=empty, hlp_examples=empty, hlp_correct=empty, n_examples=0
    )
    assert report["model_accuracy"] == {"value": None, "ci95": None}
    assert (report["n_gold"], report["gap"], report["slices"]) == (0, None, [])


@pytest.mark.parametrize(
    ("gap", "ci95", "n_gold", "verdict", "words"),
    [
        (0.2, [0.05, 0.33], 40, "model_below_human_level", "The model is below human level"),
        (-0.2, [-0.33, -0.05], 40, "model_above_human_level", "The model is above human level"),
        (-0.125, [-0.29, 0.017], 40, "not_distinguishable", "cannot be told apart"),
        (0.4, [0.1, 0.6], 29, "too_few_gold", "needs at least 30 gold examples"),
        (None, None, 0, None, "No verdict"),
    ],
)
def test_the_gap_verdict_tests_the_difference(gap, ci95, n_gold, verdict, words):
    """Overlapping intervals of model and HLP are not a verdict: the gap's interval is."""
    from consistency.quality.messages import gap_sentence

    assert stats.gap_verdict(gap, ci95, n_gold) == verdict
    assert words in gap_sentence(verdict=verdict, gap=gap, ci95=ci95, n_gold=n_gold)


def test_the_page_and_the_command_say_the_verdict(project, seeded, manager_client):
    from projects.models import PredictionSet

    out = io.StringIO()
    call_command("model_report", project.slug, "--model", "clf", stdout=out)
    model = PredictionSet.objects.get(project=project, model_name="clf")
    page = manager_client.get(f"/projects/{project.slug}/quality/models/{model.pk}/").content.decode()
    sentence = _report(project)["gap_sentence"]
    assert sentence in out.getvalue()
    assert sentence.replace("'", "&#x27;") in page
