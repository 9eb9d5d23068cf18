"""Submitting span answers (named entities): spans checked against the example's text, the
project's labels and its nesting setting, stored sorted as [start, end, label_id] in code point
offsets, under the same leases, idempotency, undo and edit as single labels; nothing written on a
refusal."""

import uuid

import pytest

from consistency.examples.timeline import example_timeline
from core.errors import ApplicationError
from labeling.models import Annotation, Assignment, ConsensusLabel, LabelingEvent
from labeling.selectors import annotation_answer_text
from labeling.services import annotations as services
from projects.models import TaskType
from projects.services.projects import TASK_TYPE_FIXED_MESSAGE, project_create, project_update
from tests.factories import ExampleFactory, LabelFactory, ProjectFactory

pytestmark = pytest.mark.django_db

TEXT = "🙂 Ada Lovelace met Charles Babbage in London."
ADA = (2, 14)  # code points: the emoji is one character
LONDON = (38, 44)


@pytest.fixture
def span_project(project):
    """`project` turned into a span project with entity labels (no nesting)."""
    project.labels.all().delete()
    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    for position, (name, key) in enumerate([("PER", "p"), ("ORG", "o"), ("LOC", "l")]):
        LabelFactory(project=project, name=name, shortcut_key=key, position=position)
    return project


@pytest.fixture
def held(span_project, labeler):
    ExampleFactory(project=span_project, external_id="s-1", text=TEXT)
    return services.assignment_next(project=span_project, user=labeler)


def label_id(project, name):
    return project.labels.get(name=name).pk


def submit(project, user, assignment, spans, **extra):
    return services.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        spans=spans,
        client_token=extra.pop("token", None) or uuid.uuid4(),
        **extra,
    )


def test_spans_are_stored_sorted_by_code_point_with_label_ids(span_project, labeler, held):
    assert TEXT[ADA[0] : ADA[1]] == "Ada Lovelace"
    assert TEXT[LONDON[0] : LONDON[1]] == "London"
    annotation = submit(
        span_project,
        labeler,
        held,
        [
            {"start": LONDON[0], "end": LONDON[1], "label": "LOC"},
            {"start": ADA[0], "end": ADA[1], "label": str(label_id(span_project, "PER"))},
        ],
    )
    stored = Annotation.objects.get(pk=annotation.pk)
    assert (stored.label_id, stored.labels) == (None, None)
    assert stored.spans == [
        [*ADA, label_id(span_project, "PER")],
        [*LONDON, label_id(span_project, "LOC")],
    ]
    held.example.refresh_from_db()
    assert held.example.annotation_count == 1
    assert (
        annotation_answer_text(project=span_project, annotation=stored) == 'PER "Ada Lovelace", LOC "London"'
    )


def test_no_entities_is_an_empty_list(span_project, labeler, held):
    annotation = submit(span_project, labeler, held, [])
    stored = Annotation.objects.get(pk=annotation.pk)
    assert stored.spans == []
    assert annotation_answer_text(project=span_project, annotation=stored) == "no entities"


@pytest.mark.parametrize(
    ("spans", "field", "words"),
    [
        ([{"start": 2, "end": 99, "label": "PER"}], "spans[0].end", "outside the text"),
        ([{"start": -1, "end": 3, "label": "PER"}], "spans[0].start", "outside the text"),
        ([{"start": 5, "end": 5, "label": "PER"}], "spans[0].end", "at or before it starts"),
        ([{"start": 2, "end": 14, "label": "bug"}], "spans[0].label", "not one of this project's labels"),
        (
            [{"start": 2, "end": 14, "label": "PER"}, {"start": 6, "end": 26, "label": "ORG"}],
            "spans[1]",
            "cross",
        ),
        (
            [{"start": 2, "end": 14, "label": "PER"}, {"start": 2, "end": 5, "label": "PER"}],
            "spans[1]",
            "does not let spans nest",
        ),
        ([{"start": "two", "end": 14, "label": "PER"}], "spans[0].start", "whole number"),
        ([{"start": 2, "label": "PER"}], "spans[0].end", "is missing"),
        ("PER 2 14", "spans", "as a list"),
    ],
)
def test_bad_spans_are_refused_by_field_and_nothing_is_written(
    span_project, labeler, held, spans, field, words
):
    with pytest.raises(ApplicationError) as refused:
        submit(span_project, labeler, held, spans)
    assert field in refused.value.extra
    assert words in refused.value.message
    assert not Annotation.objects.exists()
    held.refresh_from_db()
    assert held.status == Assignment.Status.LEASED


def test_a_label_of_another_project_is_refused(span_project, labeler, held):
    foreign = ProjectFactory(slug="elsewhere")
    stranger = LabelFactory(project=foreign, name="MISC", shortcut_key="m")
    for value in ("MISC", str(stranger.pk)):
        with pytest.raises(ApplicationError) as refused:
            submit(span_project, labeler, held, [{"start": 2, "end": 14, "label": value}])
        assert "spans[0].label" in refused.value.extra
    assert not Annotation.objects.exists()


def test_nested_spans_are_accepted_where_the_project_allows_nesting(span_project, labeler, held):
    span_project.spans_may_nest = True
    span_project.save(update_fields=["spans_may_nest"])
    nested = [{"start": 2, "end": 14, "label": "PER"}, {"start": 6, "end": 14, "label": "PER"}]
    annotation = submit(span_project, labeler, held, nested)
    assert len(Annotation.objects.get(pk=annotation.pk).spans) == 2


def test_crossing_spans_are_refused_even_where_nesting_is_allowed(span_project, labeler, held):
    span_project.spans_may_nest = True
    span_project.save(update_fields=["spans_may_nest"])
    crossing = [{"start": 2, "end": 14, "label": "PER"}, {"start": 6, "end": 26, "label": "PER"}]
    with pytest.raises(ApplicationError) as refused:
        submit(span_project, labeler, held, crossing)
    assert "cross" in refused.value.message
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    ("answer", "field"), [({"label_id": "PER"}, "label"), ({"labels": ["PER"]}, "labels"), ({}, "spans")]
)
def test_the_other_answer_shapes_are_refused_by_name_on_a_span_project(
    span_project, labeler, held, answer, field
):
    with pytest.raises(ApplicationError) as refused:
        services.annotation_submit(
            project=span_project,
            user=labeler,
            example_id=held.example_id,
            client_token=uuid.uuid4(),
            **answer,
        )
    assert field in refused.value.extra
    assert "spans" in refused.value.message
    assert not Annotation.objects.exists()


def test_spans_are_refused_by_name_on_a_label_project(project, labeler, examples):
    assignment = services.assignment_next(project=project, user=labeler)
    with pytest.raises(ApplicationError) as refused:
        services.annotation_submit(
            project=project,
            user=labeler,
            example_id=assignment.example_id,
            label_id=project.labels.first().pk,
            spans=[],
            client_token=uuid.uuid4(),
        )
    assert "spans" in refused.value.extra
    assert not Annotation.objects.exists()


def test_a_replayed_token_returns_the_first_spans_and_stores_nothing_more(span_project, labeler, held):
    token = uuid.uuid4()
    first = submit(span_project, labeler, held, [[*ADA, "PER"]], token=token)
    again = submit(span_project, labeler, held, [[*LONDON, "LOC"]], token=token)
    assert again.replay
    assert again.pk == first.pk
    assert Annotation.objects.get().spans == [[*ADA, label_id(span_project, "PER")]]


def test_undo_and_edit_keep_the_spans_in_the_history(span_project, labeler, held):
    submit(span_project, labeler, held, [[*ADA, "PER"]])
    services.annotation_undo(project=span_project, user=labeler)
    assert not Annotation.objects.exists()
    undone = LabelingEvent.objects.get(kind=LabelingEvent.Kind.UNDONE)
    assert undone.details["spans"] == [[*ADA, label_id(span_project, "PER")]]
    assert undone.details["label_name"] == 'PER "Ada Lovelace"'

    annotation = submit(span_project, labeler, held, [[*ADA, "PER"]])
    services.annotation_update(
        project=span_project,
        user=labeler,
        annotation_id=annotation.pk,
        spans=[[*ADA, "PER"], [*LONDON, "LOC"]],
    )
    assert Annotation.objects.get().spans == [
        [*ADA, label_id(span_project, "PER")],
        [*LONDON, label_id(span_project, "LOC")],
    ]
    edited = LabelingEvent.objects.get(kind=LabelingEvent.Kind.EDITED)
    assert edited.details["label_name"] == 'PER "Ada Lovelace"'
    assert edited.details["to"]["label_name"] == 'PER "Ada Lovelace", LOC "London"'


def test_a_bad_edit_is_refused_by_field_and_changes_nothing(span_project, labeler, held):
    annotation = submit(span_project, labeler, held, [[*ADA, "PER"]])
    with pytest.raises(ApplicationError) as refused:
        services.annotation_update(
            project=span_project,
            user=labeler,
            annotation_id=annotation.pk,
            spans=[[2, 14, "PER"], [0, 99, "LOC"]],
        )
    assert "spans[1].end" in refused.value.extra
    assert Annotation.objects.get().spans == [[*ADA, label_id(span_project, "PER")]]
    assert not LabelingEvent.objects.filter(kind=LabelingEvent.Kind.EDITED).exists()


def test_a_project_is_created_for_spans_and_nesting_is_fixed_once_annotated(manager, labeler):
    project = project_create(name="People", slug="people", creator=manager, task_type="spans")
    assert project.task_type == TaskType.SPANS
    project_update(project=project, user=manager, spans_may_nest=True)
    project.refresh_from_db()
    assert project.spans_may_nest


def test_nesting_cannot_change_once_the_project_has_annotations(span_project, manager, labeler, held):
    project_update(project=span_project, user=manager, spans_may_nest=True)
    project_update(project=span_project, user=manager, spans_may_nest=False)
    submit(span_project, labeler, held, [])
    with pytest.raises(ApplicationError) as refused:
        project_update(project=span_project, user=manager, spans_may_nest=True)
    assert "spans_may_nest" in refused.value.extra
    span_project.refresh_from_db()
    assert not span_project.spans_may_nest
    with pytest.raises(ApplicationError) as refused:
        project_update(project=span_project, user=manager, task_type=TaskType.SINGLE)
    assert refused.value.message == TASK_TYPE_FIXED_MESSAGE


def test_three_raters_marking_the_same_spans_make_the_consensus(span_project, raters):
    example = ExampleFactory(project=span_project, text=TEXT)
    for rater in raters:
        assignment = services.assignment_next(project=span_project, user=rater)
        assert assignment.example_id == example.pk
        submit(span_project, rater, assignment, [{"start": ADA[0], "end": ADA[1], "label": "PER"}])
    consensus = ConsensusLabel.objects.get(example=example)
    assert consensus.spans == [[*ADA, label_id(span_project, "PER")]]
    assert consensus.source == ConsensusLabel.Source.UNANIMOUS


def test_the_timeline_says_the_spans_in_words(span_project, raters):
    example = ExampleFactory(project=span_project, text=TEXT)
    answers = [[[*ADA, "PER"]], [[*ADA, "PER"]], []]
    for rater, spans in zip(raters, answers, strict=True):
        submit(span_project, rater, services.assignment_next(project=span_project, user=rater), spans)
    texts = [entry.text for entry in example_timeline(project=span_project, example=example)]
    assert any('PER "Ada Lovelace"' in text for text in texts), texts
    assert any("no entities" in text for text in texts), texts
