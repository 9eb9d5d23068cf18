"""Questions on a case: an SME asks one of its raters why they chose their label; the rater answers
from "My work", seeing only the example, the question and their own label."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from consistency.review.models import ReviewQuestion
from core.errors import ApplicationError, NotFound
from core.services import notice_send
from labeling.models import Annotation
from projects.models import Project

MAX_QUESTION_CHARS = 2000


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ApplicationError(f"Write the {what}.", extra={what: [f"Write the {what}."]})
    if len(value) > MAX_QUESTION_CHARS:
        raise ApplicationError(f"The {what} is too long (at most {MAX_QUESTION_CHARS} characters).")
    return value


@transaction.atomic
def question_ask(
    *, project: Project, user: AbstractBaseUser, disagreement_id: int, rater_username: str, question: str
) -> ReviewQuestion:
    """Ask the rater `rater_username` about their current label on the case."""
    question = _text(question, "question")
    disagreement = project.disagreements.filter(pk=disagreement_id).first()
    if disagreement is None:
        raise NotFound("Disagreement not found.")
    annotation = (
        Annotation.objects.filter(
            example_id=disagreement.example_id, rater__username=rater_username, superseded_at__isnull=True
        )
        .select_related("rater")
        .first()
    )
    if annotation is None:
        raise ApplicationError(
            "Ask one of the raters who labeled this case.", extra={"rater": ["Choose a rater."]}
        )
    asked = ReviewQuestion.objects.create(
        project=project,
        disagreement=disagreement,
        example_id=disagreement.example_id,
        annotation=annotation,
        rater=annotation.rater,
        asked_by=user,
        question=question,
    )
    notice_send(
        users=[annotation.rater],
        project=project,
        kind="question",
        text=f"{user.get_username()} asks about your label on an example of {project.name}.",
        url=f"/projects/{project.slug}/my-work/questions/",
    )
    return asked


@transaction.atomic
def question_answer(
    *, project: Project, user: AbstractBaseUser, question_id: int, answer: str
) -> ReviewQuestion:
    """The rater's answer, once. Another rater's question is NotFound."""
    answer = _text(answer, "answer")
    asked = (
        ReviewQuestion.objects.select_for_update().filter(project=project, rater=user, pk=question_id).first()
    )
    if asked is None:
        raise NotFound("Question not found.")
    if asked.answered_at is not None:
        raise ApplicationError("You have already answered this question.")
    asked.answer = answer
    asked.answered_at = timezone.now()
    asked.save(update_fields=["answer", "answered_at"])
    notice_send(
        users=[asked.asked_by],
        project=project,
        kind="answer",
        text=f"{user.get_username()} answered your question.",
        url=f"/projects/{project.slug}/review/{asked.disagreement_id}/",
    )
    return asked


def questions_for_case(*, project: Project, disagreement_id: int) -> QuerySet[ReviewQuestion]:
    return ReviewQuestion.objects.filter(project=project, disagreement_id=disagreement_id).select_related(
        "rater", "asked_by"
    )


def questions_for_rater(*, project: Project, user: AbstractBaseUser) -> QuerySet[ReviewQuestion]:
    """The rater's questions, unanswered first: the example and their own annotation, nothing else."""
    return (
        ReviewQuestion.objects.filter(project=project, rater=user)
        .select_related("example", "annotation__label", "asked_by")
        .order_by("answered_at", "-asked_at")
    )
