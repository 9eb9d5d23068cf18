"""In-app notices: labelers hear of new guideline versions and questions to them; SMEs of newly
queued cases (one notice until they look, not one per case); whoever started an import or a
release hears that it finished. The badge counts the unread ones; reading them clears it."""

import uuid

import pytest
from django.urls import reverse

from consistency.releases.services import release_build
from consistency.review import questions
from core.models import Notice
from labeling.models import Disagreement
from labeling.services import annotations as labeling
from projects.services.guidelines import guideline_draft_save, guideline_publish
from projects.services.imports import import_batch_create, import_batch_run
from tests.conftest import client_for
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def kinds(user):
    return sorted(Notice.objects.filter(user=user).values_list("kind", flat=True))


def disagree(project, raters, external_id):
    ExampleFactory(project=project, external_id=external_id)
    for rater, name in zip(raters, ("billing", "bug", "feature"), strict=True):
        assignment = labeling.assignment_next(project=project, user=rater)
        labeling.annotation_submit(
            project=project,
            user=rater,
            example_id=assignment.example_id,
            label_id=project.labels.get(name=name).pk,
            client_token=uuid.uuid4(),
        )


def test_labelers_hear_of_new_guideline_versions(project, manager, sme, labeler):
    guideline_draft_save(project=project, user=manager, body="# v1")
    guideline_publish(project=project, user=manager, changelog="First")
    assert kinds(labeler) == ["guideline"]
    assert kinds(sme) == []
    assert kinds(manager) == []
    notice = Notice.objects.get(user=labeler)
    assert notice.text == "Guideline v1 of Support tickets is published: First"
    assert notice.url == reverse("projects:guideline_version", args=[project.slug, 1])


def test_smes_hear_of_new_cases_once_until_they_look(project, sme, raters):
    disagree(project, raters, "A")
    disagree(project, raters, "B")
    assert kinds(sme) == ["queued"]
    client = client_for(sme)
    page = client.get(reverse("notices")).content.decode()
    assert "New cases wait in the review queue of Support tickets." in page
    assert 'aria-label="1 unread"' in page
    client.post(reverse("notices_read"))
    assert 'aria-label="1 unread"' not in client.get(reverse("notices")).content.decode()
    disagree(project, raters, "C")
    assert kinds(sme) == ["queued", "queued"]


def test_questions_and_answers_reach_the_other_side(project, sme, raters):
    disagree(project, raters, "A")
    case = Disagreement.objects.get()
    asked = questions.question_ask(
        project=project, user=sme, disagreement_id=case.pk, rater_username="rater2", question="Why?"
    )
    assert kinds(raters[2]) == ["question"]
    assert kinds(raters[0]) == []
    questions.question_answer(project=project, user=raters[2], question_id=asked.pk, answer="Because.")
    assert "answer" in kinds(sme)


def test_whoever_started_an_import_or_a_release_hears_it_finished(project, manager, sme, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("id,text\nt-1,One\nt-2,Two\n", encoding="utf-8")
    batch = import_batch_create(
        project=project,
        user=manager,
        uploaded_file_or_path=path,
        source_name="tickets.csv",
        run_in_background=False,
    )
    import_batch_run(batch_id=batch.pk)
    assert kinds(manager) == ["import_finished"]
    assert Notice.objects.get(user=manager).text == "Import of tickets.csv finished (Support tickets)."
    release_build(project=project, user=sme, tag="r1")
    assert kinds(sme) == ["release_finished"]
    assert kinds(manager) == ["import_finished"]


def test_notices_are_private(client, project, labeler, manager):
    guideline_draft_save(project=project, user=manager, body="# v1")
    guideline_publish(project=project, user=manager, changelog="Secret changelog")
    assert "Secret changelog" not in client_for(manager).get(reverse("notices")).content.decode()
    assert client.get(reverse("notices")).status_code == 302


def test_an_inactive_sme_and_other_roles_hear_nothing_of_new_cases(project, sme, raters, manager):
    sme.is_active = False
    sme.save(update_fields=["is_active"])
    disagree(project, raters, "A")
    assert kinds(sme) == []
    assert kinds(manager) == []
    assert not Notice.objects.filter(kind="queued").exists()
