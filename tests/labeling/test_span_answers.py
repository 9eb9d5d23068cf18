"""Span answers checked against their text (labeling.spans) and the span decision rule."""

import random

import pytest

from labeling import decisions as review
from labeling.models import Annotation, ConsensusLabel, Disagreement
from labeling.services.decisions import disagreement_detect, examples_decide
from labeling.spans import SpanError, spans_clean, utf16_to_code_points
from projects.models import TaskType
from tests.factories import ExampleFactory, UserFactory

LABELS = {"PER": 1, "ORG": 2, "1": 1, "2": 2}
TEXT = "Ada Lovelace met Babbage at Cambridge"


def clean(spans, text=TEXT, may_nest=False, utf16=False):
    return spans_clean(text, spans, labels=LABELS, may_nest=may_nest, utf16=utf16)


def refused(spans, **options) -> SpanError:
    with pytest.raises(SpanError) as caught:
        clean(spans, **options)
    return caught.value


def test_spans_come_back_sorted_with_label_ids_whatever_the_label_was_called():
    spans = [{"start": 17, "end": 24, "label": "PER"}, {"start": 0, "end": 12, "label": 1}, [28, 37, "2"]]
    assert clean(spans) == [[0, 12, 1], [17, 24, 1], [28, 37, 2]]
    assert clean([]) == []


@pytest.mark.parametrize(
    ("spans", "field", "words"),
    [
        ("PER 0 3", "spans", "as a list"),
        ({"start": 0}, "spans", "as a list"),
        ([{"start": 0, "end": 3}], "spans[0].label", "label is missing"),
        (["0-3"], "spans[0]", "must be an object"),
        ([{"start": "a", "end": 3, "label": "PER"}], "spans[0].start", "whole number"),
        ([{"start": 1.5, "end": 3, "label": "PER"}], "spans[0].start", "whole number"),
        ([{"start": True, "end": 3, "label": "PER"}], "spans[0].start", "whole number"),
        ([{"start": -1, "end": 3, "label": "PER"}], "spans[0].start", "outside the text"),
        ([{"start": 0, "end": 38, "label": "PER"}], "spans[0].end", "outside the text (0 to 37"),
        ([{"start": 3, "end": 3, "label": "PER"}], "spans[0].end", "at or before it starts"),
        ([{"start": 4, "end": 3, "label": "PER"}], "spans[0].end", "at or before it starts"),
        ([{"start": 0, "end": 3, "label": "LOC"}], "spans[0].label", "'LOC' is not one of"),
        ([{"start": 0, "end": 3, "label": True}], "spans[0].label", "not one of"),
    ],
)
def test_each_fault_is_named_by_span_and_field(spans, field, words):
    error = refused(spans)
    assert error.field == field
    assert words in error.message


def test_a_span_that_says_its_text_must_cover_that_text():
    text = "I \U0001f600 Paris today"
    assert clean([{"start": 4, "end": 9, "label": "ORG", "text": "Paris"}], text=text) == [[4, 9, 2]]
    # Offsets counted in UTF-16 units (5..10) by mistake: the text says so.
    error = refused([{"start": 5, "end": 10, "label": "ORG", "text": "Paris"}], text=text)
    assert error.field == "spans[0].text"
    assert "'Paris' is not the text at 5..10 ('aris ')" in error.message


def test_a_span_given_twice_crossing_spans_and_overlaps_without_nesting_are_refused():
    twice = refused([[0, 3, "PER"], [17, 24, "PER"], [0, 3, "PER"]])
    assert (twice.field, "twice" in twice.message) == ("spans[2]", True)
    crossing = [[0, 12, "PER"], [4, 20, "ORG"]]
    for may_nest in (False, True):
        error = refused(crossing, may_nest=may_nest)
        assert error.field == "spans[1]"
        assert "spans[0] and spans[1]" in error.message
    nested = [[0, 12, "PER"], [4, 12, "ORG"]]
    assert "does not let spans nest" in refused(nested).message
    assert clean(nested, may_nest=True) == [[0, 12, 1], [4, 12, 2]]
    # The same offsets with two labels nest (each holds the other) and need nesting too.
    same = [[0, 3, "PER"], [0, 3, "ORG"]]
    assert "does not let spans nest" in refused(same).message
    assert clean(same, may_nest=True) == [[0, 3, 1], [0, 3, 2]]
    # Touching spans do not overlap.
    assert clean([[0, 3, "PER"], [3, 12, "ORG"]]) == [[0, 3, 1], [3, 12, 2]]


def test_utf16_offsets_are_converted_and_one_inside_a_surrogate_pair_is_refused():
    text = "I \U0001f600 Paris"  # the emoji is one code point, two UTF-16 units
    assert utf16_to_code_points(text) == [0, 1, 2, None, 3, 4, 5, 6, 7, 8, 9]
    # "Paris" is at 5..10 in UTF-16 and 4..9 in code points.
    assert clean([[5, 10, "ORG"]], text=text, utf16=True) == [[4, 9, 2]]
    assert text[4:9] == "Paris"
    assert clean([[2, 4, "PER"]], text=text, utf16=True) == [[2, 3, 1]]
    error = refused([[3, 10, "ORG"]], text=text, utf16=True)
    assert error.field == "spans[0].start"
    assert "surrogate pair" in error.message
    assert refused([[2, 3, "ORG"]], text=text, utf16=True).field == "spans[0].end"
    assert "0 to 10 UTF-16 code units" in refused([[5, 11, "ORG"]], text=text, utf16=True).message


SPAN_A, SPAN_B, SPAN_C = (0, 12, 1), (17, 24, 1), (28, 37, 2)


def decide(votes, k=3, threshold=0.6, accept_majority=True, ambiguous=False):
    return review.decide_spans(
        votes, k=k, threshold=threshold, accept_majority=accept_majority, ambiguous=ambiguous
    )


def test_the_same_spans_from_everyone_are_unanimous_including_no_entities():
    outcome = decide([[SPAN_A, SPAN_B]] * 3)
    assert (outcome.kind, outcome.label, outcome.share) == (review.ACCEPT_UNANIMOUS, (SPAN_A, SPAN_B), 1.0)
    assert decide([[], [], []]).label == ()
    assert decide([[], [], []]).kind == review.ACCEPT_UNANIMOUS


def test_spans_a_majority_marked_exactly_are_the_consensus():
    # Two of three marked A and B; the third moved B's boundary: a majority, the third's B missing.
    moved = (17, 23, 1)
    outcome = decide([[SPAN_A, SPAN_B], [SPAN_A, SPAN_B], [SPAN_A, moved]])
    assert outcome.kind == review.ACCEPT_MAJORITY
    assert outcome.label == (SPAN_A, SPAN_B)
    assert outcome.share == pytest.approx(2 / 3)
    assert outcome.label_a == 1
    reviewed = decide([[SPAN_A, SPAN_B], [SPAN_A, SPAN_B], [SPAN_A, moved]], accept_majority=False)
    assert (reviewed.kind, reviewed.reason) == (review.QUEUE, review.REASON_MAJORITY_REVIEW)


def test_a_span_without_a_clear_majority_queues_the_example():
    # Every span is marked by one rater of three: the consensus (no spans) was given by nobody.
    outcome = decide([[SPAN_A], [SPAN_B], [SPAN_C]])
    assert (outcome.kind, outcome.reason, outcome.label) == (review.QUEUE, review.REASON_BELOW_THRESHOLD, ())
    assert {outcome.label_a, outcome.label_b} == {1, 2}
    # Two raters split evenly on a span.
    # Two of three marked an entity at the same place with different labels, or with different
    # boundaries: "no entities" (what the third said) is not accepted as a majority.
    for a, b in (((0, 12, 1), (0, 12, 2)), ((0, 12, 1), (0, 11, 1))):
        dropped = decide([[a], [b], []])
        assert (dropped.kind, dropped.reason, dropped.label) == (
            review.QUEUE,
            review.REASON_BELOW_THRESHOLD,
            (),
        )
        assert decide([[a], [b], []], accept_majority=False).reason == review.REASON_BELOW_THRESHOLD
    # One rater of three marking an extra entity does not hold up the majority.
    assert decide([[SPAN_A, SPAN_C], [SPAN_A], [SPAN_A]]).kind == review.ACCEPT_MAJORITY
    split = decide([[SPAN_A], []], k=2)
    assert (split.kind, split.reason, split.label_a) == (review.QUEUE, review.REASON_SPLIT, 1)
    assert decide([[SPAN_A]], k=2).kind == review.PENDING
    assert decide([[SPAN_A]] * 3, ambiguous=True).reason == review.REASON_AMBIGUOUS


# ------------------------------------------------------------------------- stored outcomes


@pytest.fixture
def span_project(project):
    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    return project


def _state(project):
    consensus = sorted(
        ConsensusLabel.objects.filter(example__project=project).values_list(
            "example_id", "label_id", "labels", "spans", "source", "agreement", "n_raters"
        )
    )
    cases = sorted(
        Disagreement.objects.filter(project=project, status="open").values_list(
            "example_id", "reason", "label_a_id", "label_b_id", "majority_share"
        )
    )
    return consensus, cases


@pytest.mark.django_db
def test_one_example_and_set_based_paths_store_the_same_span_decisions(span_project):
    project = span_project
    project.majority_threshold = 0.7
    project.accept_majority = True
    project.save()
    labels = list(project.labels.values_list("pk", flat=True))[:2]
    candidates = [[0, 4], [5, 9], [5, 8], [10, 14]]
    raters = [UserFactory(username=f"r{n}") for n in range(4)]
    rng = random.Random(7)
    examples = []
    for n in range(40):
        example = ExampleFactory(
            project=project, external_id=f"s{n}", text="abcd efgh ijkl", annotation_count=3
        )
        truth = {(*rng.choice(candidates), rng.choice(labels)) for _ in range(rng.choice([0, 1, 2]))}
        for rater in raters:
            # Each rater keeps most of the example's true spans and now and then adds one.
            chosen = {span for span in truth if rng.random() < 0.7}
            if rng.random() < 0.3:
                chosen.add((*rng.choice(candidates), rng.choice(labels)))
            Annotation.objects.create(
                example=example, rater=rater, spans=sorted(list(span) for span in chosen)
            )
        examples.append(example)
    for example in examples:
        disagreement_detect(project=project, example=example)
    one_by_one = _state(project)
    ConsensusLabel.objects.all().delete()
    Disagreement.objects.all().delete()
    counts = examples_decide(project=project, example_ids=[e.pk for e in examples])
    assert _state(project) == one_by_one
    assert counts.queued > 0
    assert counts.unanimous + counts.majority > 0
    assert examples_decide(project=project, example_ids=[e.pk for e in examples]).changed == 0
    for _, label_id, labels, spans, *_ in one_by_one[0]:
        assert (label_id, labels) == (None, None)
        assert spans == sorted(spans)


@pytest.mark.django_db
def test_majority_spans_become_the_consensus_and_a_contested_span_is_queued(span_project):
    project = span_project
    project.majority_threshold = 0.66
    project.accept_majority = True
    project.save()
    per, org = (label.pk for label in project.labels.all()[:2])
    raters = [UserFactory(username=f"r{n}") for n in range(3)]
    agreed = ExampleFactory(project=project, text=TEXT, annotation_count=3)
    split = ExampleFactory(project=project, text=TEXT, annotation_count=3)
    for rater, moved in zip(raters, ([17, 24, per], [17, 24, per], [17, 23, per]), strict=True):
        Annotation.objects.create(example=agreed, rater=rater, spans=[[0, 12, per], moved])
    for rater, spans in zip(raters, ([[0, 12, per]], [[0, 12, org]], []), strict=True):
        Annotation.objects.create(example=split, rater=rater, spans=spans)
    for example in (agreed, split):
        disagreement_detect(project=project, example=example)
    consensus = ConsensusLabel.objects.get(example=agreed)
    assert (consensus.source, consensus.spans, consensus.label_id, consensus.labels) == (
        "majority",
        [[0, 12, per], [17, 24, per]],
        None,
        None,
    )
    case = Disagreement.objects.get(example=split, status="open")
    assert case.reason == "below_threshold"
    assert {case.label_a_id, case.label_b_id} == {per, org}
    assert not ConsensusLabel.objects.filter(example=split).exists()
    # The third rater corrects the moved span: now unanimous.
    Annotation.objects.filter(example=agreed, rater=raters[2]).update(spans=[[0, 12, per], [17, 24, per]])
    disagreement_detect(project=project, example=agreed)
    assert ConsensusLabel.objects.get(example=agreed).source == "unanimous"
