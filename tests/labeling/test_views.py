"""The labeling page with and without htmx, My work, and the manager's progress page."""

import uuid

import pytest
from django.core.cache import cache
from django.urls import reverse

from labeling.models import Annotation, Assignment
from labeling.selectors import examples_remaining
from labeling.services import annotations as services
from projects.models import Example
from tests.factories import ExampleFactory, GuidelineVersionFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


def current_example(labeler, project):
    """The example on screen: the first of the labeler's queue of leases."""
    return (
        Assignment.objects.filter(rater=labeler, project=project, status="leased")
        .order_by("expires_at", "id")
        .first()
        .example
    )


def test_label_page_shows_example_metadata_labels_and_guideline(labeler_client, labeler, project):
    project.visible_metadata = ["channel"]
    project.save()
    ExampleFactory(
        project=project, text="My invoice is wrong", metadata={"channel": "chat", "secret": "hidden-x"}
    )
    GuidelineVersionFactory(project=project, number=1, body="# Rules\n\n<script>alert(1)</script>**bold**")
    response = labeler_client.get(url("label", project))
    html = response.content.decode()
    assert response.status_code == 200
    assert "My invoice is wrong" in html
    assert "chat" in html
    assert "hidden-x" not in html
    assert "<kbd>1</kbd> billing" in html
    assert 'data-shortcut="1"' in html
    assert "<strong>bold</strong>" in html
    assert "<script>alert" not in html
    assert 'src="/static/labeling.js"' in html
    assert "style=" not in html  # the CSP forbids inline styles


def test_plain_form_submit_redirects_to_the_next_example(labeler_client, labeler, project):
    ExampleFactory.create_batch(2, project=project)
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    label = project.labels.get(name="bug")
    response = labeler_client.post(
        url("submit", project, example.pk),
        {
            "label": label.pk,
            "client_token": str(uuid.uuid4()),
            "note": "n1",
            "ambiguous": "on",
            "ambiguous_note": "why",
        },
    )
    assert response.status_code == 302
    assert response.url == url("label", project)
    annotation = Annotation.objects.get(rater=labeler)
    assert (annotation.label, annotation.ambiguous, annotation.ambiguous_note, annotation.note) == (
        label,
        True,
        "why",
        "n1",
    )
    page = labeler_client.get(response.url).content.decode()
    assert "Saved." in page
    assert current_example(labeler, project).pk != example.pk


def test_htmx_submit_returns_the_next_work_area_only(labeler_client, labeler, project):
    ExampleFactory.create_batch(2, project=project)
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    response = labeler_client.post(
        url("submit", project, example.pk),
        {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="work-area"' in html
    assert "<html" not in html
    assert "Saved." in html
    assert f'data-example-id="{current_example(labeler, project).pk}"' in html


def test_double_submit_through_the_page_stores_one_annotation(labeler_client, labeler, project):
    ExampleFactory.create_batch(2, project=project)
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    data = {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())}
    first = labeler_client.post(url("submit", project, example.pk), data, **HTMX)
    second = labeler_client.post(url("submit", project, example.pk), data, **HTMX)
    assert first.status_code == second.status_code == 200
    assert "Saved." in second.content.decode()
    assert Annotation.objects.filter(rater=labeler).count() == 1
    assert Example.objects.get(pk=example.pk).annotation_count == 1


def test_refused_submit_shows_a_message_not_an_error_page(labeler_client, labeler, project):
    ExampleFactory(project=project)
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    services.assignment_skip(project=project, user=labeler, example_id=example.pk, reason="spam")
    response = labeler_client.post(
        url("submit", project, example.pk),
        {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    assert "You skipped this example" in labeler_client.get(response.url).content.decode()


def test_missing_label_is_a_message(labeler_client, labeler, project):
    ExampleFactory(project=project)
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    response = labeler_client.post(
        url("submit", project, example.pk), {"client_token": str(uuid.uuid4())}, **HTMX
    )
    assert response.status_code == 200
    assert "Choose a label" in response.content.decode()


def test_skip_and_undo_through_the_page(labeler_client, labeler, project):
    ExampleFactory.create_batch(3, project=project)
    labeler_client.get(url("label", project))
    first = current_example(labeler, project)
    labeler_client.post(url("skip", project, first.pk), {"reason": "spam"}, **HTMX)
    assert Assignment.objects.get(example=first, rater=labeler).skip_reason == "spam"
    second = current_example(labeler, project)
    labeler_client.post(
        url("submit", project, second.pk),
        {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())},
    )
    page = labeler_client.get(url("label", project)).content.decode()
    assert 'id="undo-form"' in page
    response = labeler_client.post(url("undo", project), **HTMX)
    assert "undone" in response.content.decode()
    assert not Annotation.objects.filter(rater=labeler).exists()
    assert current_example(labeler, project) == second


def test_an_empty_skip_reason_is_refused_on_the_page(labeler_client, labeler, project):
    ExampleFactory.create_batch(2, project=project)
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    response = labeler_client.post(url("skip", project, example.pk), {"reason": "   "}, **HTMX)
    html = response.content.decode()
    assert "Say why you skip this example" in html
    assert f'data-example-id="{example.pk}"' in html  # still the same example
    assert 'name="reason" id="id_skip_reason" class="grow" maxlength="500" required' in html
    assert Assignment.objects.get(example=example, rater=labeler).status == "leased"


def test_the_remaining_count_agrees_with_nothing_left_and_says_why(
    labeler_client, labeler, project, make_labeler
):
    project.overlap = 2
    project.save()
    held, labeled, also_labeled, skipped = ExampleFactory.create_batch(4, project=project)
    first, second = make_labeler("first"), make_labeler("second")
    assert services.assignment_next(project=project, user=first).example_id == held.pk
    assert services.assignment_next(project=project, user=second).example_id == held.pk
    for example in (labeled, also_labeled):
        lease = services.assignment_next(project=project, user=labeler)
        assert lease.example_id == example.pk
        services.annotation_submit(
            project=project, user=labeler, example_id=example.pk,
            label_id=project.labels.first().pk, client_token=uuid.uuid4(),
        )  # fmt: skip
    lease = services.assignment_next(project=project, user=labeler)
    services.assignment_skip(project=project, user=labeler, example_id=lease.example_id, reason="spam")

    html = labeler_client.get(url("label", project)).content.decode()
    assert 'id="nothing-left"' in html
    assert '<strong id="progress-remaining">4</strong>' in html
    assert "4 examples in this project still need labels, but not from you" in html
    assert "2 you have labeled already; they wait for other labelers." in html
    assert "1 you skipped" in html
    assert "1 is being labeled by other labelers right now" in html

    # The other two label the held example: the count drops at once, never a stale figure.
    for user in (first, second):
        services.annotation_submit(
            project=project, user=user, example_id=held.pk,
            label_id=project.labels.first().pk, client_token=uuid.uuid4(),
        )  # fmt: skip
    html = labeler_client.get(url("label", project)).content.decode()
    assert '<strong id="progress-remaining">3</strong>' in html
    assert "being labeled by other labelers" not in html


def test_nothing_left_when_every_example_has_its_labels(labeler_client, labeler, project):
    ExampleFactory(project=project)
    project.overlap = 1
    project.save()
    lease = services.assignment_next(project=project, user=labeler)
    services.annotation_submit(
        project=project, user=labeler, example_id=lease.example_id,
        label_id=project.labels.first().pk, client_token=uuid.uuid4(),
    )  # fmt: skip
    html = labeler_client.get(url("label", project)).content.decode()
    assert "Nothing left to label" in html
    assert "Every example in this project has all its labels." in html
    assert '<strong id="progress-remaining">0</strong>' in html


def test_nothing_left_is_said_clearly(labeler_client, project):
    response = labeler_client.get(url("label", project))
    assert "Nothing left to label" in response.content.decode()


def test_progress_counts_on_the_label_page(labeler_client, labeler, project):
    ExampleFactory.create_batch(2, project=project)
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    labeler_client.post(
        url("submit", project, example.pk),
        {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())},
    )
    html = labeler_client.get(url("label", project)).content.decode()
    assert '<strong id="progress-today">1</strong>' in html
    assert '<strong id="progress-total">1</strong>' in html
    assert '<strong id="progress-remaining">2</strong>' in html


def test_my_work_lists_and_edits_own_annotations(labeler_client, labeler, project):
    ExampleFactory(project=project, text="Please refund me")
    labeler_client.get(url("label", project))
    example = current_example(labeler, project)
    labeler_client.post(
        url("submit", project, example.pk),
        {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())},
    )
    annotation = Annotation.objects.get(rater=labeler)
    page = labeler_client.get(url("my_work", project)).content.decode()
    assert "Please refund me" in page
    assert url("annotation_edit", project, annotation.pk) in page
    feature = project.labels.get(name="feature")
    response = labeler_client.post(
        url("annotation_edit", project, annotation.pk),
        {"label": feature.pk, "ambiguous": "on", "ambiguous_note": "maybe", "note": "rethought"},
    )
    assert response.status_code == 302
    annotation.refresh_from_db()
    assert (annotation.label, annotation.ambiguous, annotation.note) == (feature, True, "rethought")


def test_my_work_is_paginated(labeler_client, labeler, project):
    from tests.factories import AnnotationFactory

    for example in ExampleFactory.create_batch(30, project=project):
        AnnotationFactory(example=example, rater=labeler, label=project.labels.first())
    first = labeler_client.get(url("my_work", project)).content.decode()
    assert "Page 1 of 2" in first
    assert "Page 2 of 2" in labeler_client.get(url("my_work", project) + "?page=2").content.decode()


def test_managers_see_progress_per_labeler_and_distribution(manager_client, labeler, project):
    examples = ExampleFactory.create_batch(3, project=project)
    assignment = services.assignment_next(project=project, user=labeler)
    services.annotation_submit(
        project=project,
        user=labeler,
        example_id=assignment.example_id,
        label_id=project.labels.first().pk,
        client_token=uuid.uuid4(),
        time_spent_ms=3000,
    )
    services.assignment_skip(
        project=project,
        user=labeler,
        example_id=services.assignment_next(project=project, user=labeler).example_id,
        reason="spam",
    )
    response = manager_client.get(url("progress", project))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="progress-data"' in html
    assert 'src="/static/labeling-progress.js"' in html
    data = response.context["data"]
    assert data["labelers"] == [{"username": "labeler", "done": 1, "skipped": 1, "median_seconds": 3.0}]
    assert [row["examples"] for row in data["distribution"]] == [len(examples) - 1, 1, 0, 0]


def test_labelers_and_smes_cannot_see_the_progress_page(labeler_client, project):
    assert labeler_client.get(url("progress", project)).status_code == 403


def test_managers_do_not_label(manager_client, project):
    ExampleFactory(project=project)
    assert manager_client.get(url("label", project)).status_code == 403


def test_anonymous_users_are_sent_to_log_in(client, project):
    response = client.get(url("label", project))
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


def test_remaining_count_includes_examples_waiting_for_extra_raters(project, examples):
    for example in examples:
        example.annotation_count = project.overlap
        example.save(update_fields=["annotation_count"])
    assert examples_remaining(project) == 0
    cache.clear()
    examples[0].extra_raters = 1
    examples[0].save(update_fields=["extra_raters"])
    assert examples_remaining(project) == 1
