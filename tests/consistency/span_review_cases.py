"""A span case for the review tests: three raters disagree on the boundaries and labels of the
entities in one sentence, and the case is in the SME's queue."""

from labeling.models import Annotation, Disagreement
from projects.models import TaskType
from tests.factories import ExampleFactory, UserFactory

TEXT = "Ada Lovelace met Charles Babbage in London"
# rater0 and rater1 agree on Ada Lovelace; Charles Babbage's boundary differs; London only rater2.
MARKED = {
    "rater0": [(0, 12, "PERSON"), (17, 32, "PERSON")],
    "rater1": [(0, 12, "PERSON"), (25, 32, "PERSON")],
    "rater2": [(0, 3, "PERSON"), (36, 42, "PLACE")],
}


def span_project_make(project):
    """`project` (the conftest one) as a span project labeling PERSON and PLACE."""
    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    project.labels.filter(name="billing").update(name="PERSON")
    project.labels.filter(name="bug").update(name="PLACE")
    return project


def span_ids(project) -> dict[str, int]:
    return dict(project.labels.values_list("name", "pk"))


def span_case_make(project, *, text=TEXT, marked=None, external_id="ner-1") -> Disagreement:
    """The annotations of `marked` on a new example, and its open case, made directly."""
    ids = span_ids(project)
    example = ExampleFactory(project=project, text=text, external_id=external_id)
    for username, spans in (marked or MARKED).items():
        rater = UserFactory(username=username) if not _exists(username) else _user(username)
        Annotation.objects.create(
            example=example,
            rater=rater,
            label=None,
            spans=sorted([start, end, ids[name]] for start, end, name in spans),
        )
    example.annotation_count = len(marked or MARKED)
    example.save(update_fields=["annotation_count"])
    return Disagreement.objects.create(
        project=project,
        example=example,
        reason=Disagreement.Reason.BELOW_THRESHOLD,
        label_a_id=ids["PERSON"],
        label_b_id=ids["PLACE"],
    )


def _exists(username: str) -> bool:
    return UserFactory._meta.model.objects.filter(username=username).exists()


def _user(username: str):
    return UserFactory._meta.model.objects.get(username=username)
