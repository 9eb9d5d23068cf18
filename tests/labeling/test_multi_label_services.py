"""Submitting multi-label answers: a set of the project's labels, checked, stored sorted, under
the same leases, idempotency and constraints as single labels; and the task type fixed once a
project has annotations."""

import uuid

import pytest
from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from labeling.models import Annotation, LabelingEvent
from labeling.services import annotations as services
from projects.models import TaskType
from projects.services.projects import TASK_TYPE_FIXED_MESSAGE, project_create, project_update
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(multi_project, labeler):
    ExampleFactory(project=multi_project, external_id="m-1", text="Charged twice and the app crashed")
    ExampleFactory(project=multi_project, external_id="m-2", text="Nothing to see here")
    return services.assignment_next(project=multi_project, user=labeler)


def ids(project, *names):
    return [project.labels.get(name=name).pk for name in names]


def submit_set(project, user, assignment, labels, **extra):
    return services.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        labels=labels,
        client_token=extra.pop("token", None) or uuid.uuid4(),
        **extra,
    )


def test_a_label_set_is_stored_sorted_and_counts_once(multi_project, labeler, held):
    chosen = ids(multi_project, "other", "billing", "bug")
    annotation = submit_set(multi_project, labeler, held, chosen)
    stored = Annotation.objects.get(pk=annotation.pk)
    assert stored.label_id is None
    assert stored.labels == sorted(chosen)
    assert not annotation.replay
    held.example.refresh_from_db()
    assert held.example.annotation_count == 1


def test_labels_given_by_id_as_text_are_accepted(multi_project, labeler, held):
    chosen = ids(multi_project, "bug", "billing")
    annotation = submit_set(multi_project, labeler, held, [str(pk) for pk in chosen])
    assert Annotation.objects.get(pk=annotation.pk).labels == sorted(chosen)


def test_an_empty_set_is_refused_unless_the_project_allows_none_of_these(multi_project, labeler, held):
    with pytest.raises(ApplicationError) as refused:
        submit_set(multi_project, labeler, held, [])
    assert "none of these" in refused.value.message
    assert "labels" in refused.value.extra
    assert not Annotation.objects.exists()

    multi_project.allow_empty_label_set = True
    multi_project.save(update_fields=["allow_empty_label_set"])
    annotation = submit_set(multi_project, labeler, held, [])
    assert Annotation.objects.get(pk=annotation.pk).labels == []


def test_an_unknown_label_or_another_projects_label_is_refused(multi_project, other_project, labeler, held):
    foreign = other_project.labels.first().pk
    for bad in ([*ids(multi_project, "bug"), foreign], ["no-such-label"], [999_999]):
        with pytest.raises(ApplicationError) as refused:
            submit_set(multi_project, labeler, held, bad)
        assert "not one of this project's labels" in refused.value.message
    assert not Annotation.objects.exists()


def test_a_label_given_twice_is_refused(multi_project, labeler, held):
    bug = ids(multi_project, "bug")[0]
    with pytest.raises(ApplicationError) as refused:
        submit_set(multi_project, labeler, held, [bug, str(bug)])
    assert "twice" in refused.value.message
    assert not Annotation.objects.exists()


def test_the_wrong_shape_for_the_task_type_is_refused_by_name(multi_project, labeler, held):
    with pytest.raises(ApplicationError) as refused:
        services.annotation_submit(
            project=multi_project,
            user=labeler,
            example_id=held.example_id,
            label_id=ids(multi_project, "bug")[0],
            client_token=uuid.uuid4(),
        )
    assert "multi-label" in refused.value.message
    assert "label" in refused.value.extra

    multi_project.task_type = TaskType.SINGLE
    multi_project.save(update_fields=["task_type"])
    with pytest.raises(ApplicationError) as refused:
        submit_set(multi_project, labeler, held, ids(multi_project, "bug"))
    assert "one label per example" in refused.value.message
    assert "labels" in refused.value.extra
    assert not Annotation.objects.exists()


def test_a_replayed_token_returns_the_first_set_and_stores_nothing_more(multi_project, labeler, held):
    token = uuid.uuid4()
    first = submit_set(multi_project, labeler, held, ids(multi_project, "bug", "billing"), token=token)
    again = submit_set(multi_project, labeler, held, ids(multi_project, "feature"), token=token)
    assert again.replay
    assert again.pk == first.pk
    assert again.labels == sorted(ids(multi_project, "bug", "billing"))
    assert Annotation.objects.count() == 1


def test_the_database_refuses_an_annotation_with_both_a_label_and_a_set(multi_project, labeler, held):
    bug = multi_project.labels.get(name="bug")
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(example=held.example, rater=labeler, label=bug, labels=[bug.pk])


def test_undo_and_edit_keep_the_set_in_the_history(multi_project, labeler, held):
    annotation = submit_set(multi_project, labeler, held, ids(multi_project, "bug", "billing"))
    services.annotation_update(
        project=multi_project,
        user=labeler,
        annotation_id=annotation.pk,
        labels=ids(multi_project, "feature"),
    )
    assert Annotation.objects.get(pk=annotation.pk).labels == ids(multi_project, "feature")
    edited = LabelingEvent.objects.get(kind=LabelingEvent.Kind.EDITED)
    assert edited.details["labels"] == sorted(ids(multi_project, "bug", "billing"))
    assert edited.details["label_name"] == "billing + bug"
    assert edited.details["to"]["label_name"] == "feature"
    services.annotation_undo(project=multi_project, user=labeler)
    undone = LabelingEvent.objects.get(kind=LabelingEvent.Kind.UNDONE)
    assert undone.details["labels"] == ids(multi_project, "feature")
    assert not Annotation.objects.exists()


def test_the_task_type_is_fixed_once_the_project_has_annotations(multi_project, manager, labeler, held):
    project_update(project=multi_project, user=manager, task_type=TaskType.SINGLE)
    project_update(project=multi_project, user=manager, task_type=TaskType.MULTI)
    submit_set(multi_project, labeler, held, ids(multi_project, "bug"))
    with pytest.raises(ApplicationError) as refused:
        project_update(project=multi_project, user=manager, task_type=TaskType.SINGLE)
    assert refused.value.message == TASK_TYPE_FIXED_MESSAGE
    assert "task_type" in refused.value.extra
    multi_project.refresh_from_db()
    assert multi_project.task_type == TaskType.MULTI
    # Other settings, the same type again and "none of these" stay editable.
    project_update(project=multi_project, user=manager, task_type=TaskType.MULTI, allow_empty_label_set=True)
    multi_project.refresh_from_db()
    assert multi_project.allow_empty_label_set


def test_a_project_is_created_multi_label_and_unsupported_types_are_refused(manager):
    project = project_create(
        name="Tickets", slug="tickets", creator=manager, task_type="multi", allow_empty_label_set=True
    )
    assert (project.task_type, project.allow_empty_label_set) == ("multi", True)
    with pytest.raises(ApplicationError) as refused:
        project_create(name="Trees", slug="trees", creator=manager, task_type="tree")
    assert "task_type" in refused.value.extra
