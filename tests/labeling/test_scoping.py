"""Labelers see only their own project and their own work: other projects are 404 and other
raters' annotations never appear on a page or answer to a URL."""

import uuid

import pytest
from django.urls import reverse

from labeling.models import Annotation
from labeling.services import annotations as services
from projects.models import Role
from tests.factories import ExampleFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


@pytest.fixture
def other_rater(project):
    user = UserFactory(username="other-rater")
    MembershipFactory(user=user, project=project, role=Role.LABELER)
    return user


@pytest.fixture
def others_annotation(project, other_rater):
    ExampleFactory.create_batch(3, project=project)
    assignment = services.assignment_next(project=project, user=other_rater)
    return services.annotation_submit(
        project=project,
        user=other_rater,
        example_id=assignment.example_id,
        label_id=project.labels.get(name="feature").pk,
        client_token=uuid.uuid4(),
        ambiguous=True,
        ambiguous_note="secret-ambiguity-note",
        note="secret-rater-note",
    )


def test_labeler_of_project_a_gets_404_on_every_url_of_project_b(labeler_client, project, other_project):
    example = ExampleFactory(project=other_project)
    gets = [url("label", other_project), url("my_work", other_project), url("progress", other_project)]
    gets.append(url("annotation_edit", other_project, 1))
    posts = [
        url("submit", other_project, example.pk),
        url("skip", other_project, example.pk),
        url("undo", other_project),
        url("annotation_edit", other_project, 1),
    ]
    for target in gets:
        assert labeler_client.get(target).status_code == 404, target
    for target in posts:
        assert labeler_client.post(target, {"label": 1}).status_code == 404, target


def test_examples_of_another_project_cannot_be_submitted_through_my_project(
    labeler_client, project, other_project
):
    foreign = ExampleFactory(project=other_project)
    response = labeler_client.post(
        url("submit", project, foreign.pk),
        {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())},
    )
    assert response.status_code == 404
    assert not Annotation.objects.exists()


def test_submitting_or_skipping_anothers_example_is_404(labeler_client, labeler, project, other_rater):
    ExampleFactory.create_batch(3, project=project)
    theirs = services.assignment_next(project=project, user=other_rater)
    data = {"label": project.labels.first().pk, "client_token": str(uuid.uuid4())}
    assert labeler_client.post(url("submit", project, theirs.example_id), data).status_code == 404
    assert labeler_client.post(url("skip", project, theirs.example_id), {"reason": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "leased"


def test_editing_anothers_annotation_is_404(labeler_client, project, others_annotation):
    target = url("annotation_edit", project, others_annotation.pk)
    assert labeler_client.get(target).status_code == 404
    feature = project.labels.first()
    assert labeler_client.post(target, {"label": feature.pk, "note": "hijack"}).status_code == 404
    others_annotation.refresh_from_db()
    assert others_annotation.note == "secret-rater-note"


def test_undo_never_touches_anothers_annotation(labeler_client, project, labeler, others_annotation):
    labeler_client.post(url("undo", project))
    assert Annotation.objects.filter(pk=others_annotation.pk).exists()


def test_pages_never_show_other_raters_work(labeler_client, labeler, project, others_annotation):
    # The labeler is handed the example the other rater already labeled (it comes first).
    page = labeler_client.get(url("label", project))
    assert page.context["example"].pk == others_annotation.example_id
    pages = [page, labeler_client.get(url("my_work", project))]
    for response in pages:
        html = response.content.decode()
        assert "secret-ambiguity-note" not in html
        assert "secret-rater-note" not in html
        assert "other-rater" not in html
        assert f"/my-work/{others_annotation.pk}/" not in html
    # Nothing on the page reveals how many raters have labeled this example.
    assert "annotation_count" not in page.content.decode()
    assert 'id="undo-form"' not in page.content.decode()
