"""The review queue that remembers: tabs for open, resolved and excluded cases; skipping a case
for the next one; an SME's question to a rater, answered from "My work", where the rater sees
the question and their own label but never the others'."""

import uuid

import pytest
from django.urls import reverse

from consistency.review import services as review
from consistency.review.models import ReviewQuestion
from labeling.models import Disagreement
from labeling.services import annotations as labeling
from tests.conftest import client_for
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def disagree(project, raters, external_id, names=("billing", "bug", "feature")):
    example = ExampleFactory(project=project, external_id=external_id, text=f"text of {external_id}")
    for rater, name in zip(raters, names, strict=True):
        assignment = labeling.assignment_next(project=project, user=rater)
        labeling.annotation_submit(
            project=project,
            user=rater,
            example_id=assignment.example_id,
            label_id=project.labels.get(name=name).pk,
            client_token=uuid.uuid4(),
            note=f"{rater.username} chose {name}",
        )
    return Disagreement.objects.get(example=example, status="open")


@pytest.fixture
def cases(project, raters, sme):
    a, b, c, d = (disagree(project, raters, ext) for ext in ("C-1", "C-2", "C-3", "C-4"))
    review.review_resolve(
        project=project,
        user=sme,
        disagreement_id=a.pk,
        verdict="gold",
        label_id=project.labels.get(name="bug").pk,
    )
    review.review_resolve(
        project=project, user=sme, disagreement_id=b.pk, verdict="excluded", rationale="Unclear."
    )
    return {"resolved": a, "excluded": b, "open": [c, d]}


def test_tabs_list_open_resolved_and_excluded_cases(sme_client, project, cases):
    url = reverse("consistency:review_queue", args=[project.slug])
    opened = sme_client.get(url).content.decode()
    assert ">C-3<" in opened
    assert ">C-1<" not in opened
    assert "Open (2)" in opened
    resolved = sme_client.get(url, {"tab": "resolved"}).content.decode()
    assert ">C-1</a>" in resolved
    assert ">C-2</a>" not in resolved
    assert ">C-3</a>" not in resolved
    excluded = sme_client.get(url, {"tab": "excluded"}).content.decode()
    assert ">C-2</a>" in excluded
    assert "Unclear." in excluded
    beyond = sme_client.get(url, {"tab": "resolved", "page": "5"}).content.decode()
    assert "There is only 1 page; showing page 1." in beyond


def test_skip_opens_the_next_case_and_remembers(sme_client, project, cases):
    first, second = cases["open"]
    url = reverse("consistency:review_skip", args=[project.slug, first.pk])
    response = sme_client.post(url)
    assert response["Location"].startswith(reverse("consistency:review_item", args=[project.slug, second.pk]))
    response = sme_client.post(
        reverse("consistency:review_skip", args=[project.slug, second.pk]), follow=True
    )
    assert "No other open case left" in response.content.decode()
    first.refresh_from_db()
    assert first.status == "open"  # skipping decides nothing


def test_question_to_a_rater_and_the_answer_from_my_work(sme_client, project, cases, raters, sme):
    case = cases["open"][0]
    item = reverse("consistency:review_item", args=[project.slug, case.pk])
    sme_client.post(
        reverse("consistency:question_ask", args=[project.slug, case.pk]),
        {"rater": "rater1", "question": "Why bug rather than billing?"},
    )
    asked = ReviewQuestion.objects.get()
    assert (asked.rater, asked.asked_by) == (raters[1], sme)
    rater = client_for(raters[1])
    page = rater.get(reverse("consistency:my_questions", args=[project.slug])).content.decode()
    assert "Why bug rather than billing?" in page
    assert "text of C-3" in page
    assert "Your label: <strong>bug</strong>" in page
    assert "rater0 chose" not in page
    assert "rater2 chose" not in page
    assert "feature" not in page  # rater2's label
    assert "rater0" not in page
    # Another rater cannot answer it; the rater answers once.
    other = client_for(raters[0])
    answer_url = reverse("consistency:question_answer", args=[project.slug, asked.pk])
    assert other.post(answer_url, {"answer": "me too"}).status_code == 404
    assert "Write the answer" in rater.post(answer_url, {"answer": " "}, follow=True).content.decode()
    rater.post(answer_url, {"answer": "The app crashed while paying."})
    again = rater.post(answer_url, {"answer": "changed"}, follow=True).content.decode()
    assert "already answered" in again
    asked.refresh_from_db()
    assert asked.answer == "The app crashed while paying."
    assert "rater1</strong> answered" in sme_client.get(item).content.decode()


def test_questions_only_to_the_cases_raters_and_only_by_reviewers(
    sme_client, labeler_client, outsider_client, project, cases
):
    case = cases["open"][0]
    url = reverse("consistency:question_ask", args=[project.slug, case.pk])
    page = sme_client.post(url, {"rater": "labeler", "question": "Hi?"}, follow=True).content.decode()
    assert "Ask one of the raters who labeled this case." in page
    assert labeler_client.post(url, {"rater": "rater0", "question": "Hi?"}).status_code == 403
    assert outsider_client.post(url, {"rater": "rater0", "question": "Hi?"}).status_code == 404
    assert not ReviewQuestion.objects.exists()
    assert sme_client.get(reverse("consistency:my_questions", args=[project.slug])).status_code == 403
