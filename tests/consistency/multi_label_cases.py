"""A multi-label case for the review and agreement tests: three raters choose {billing, bug},
{bug} and {feature} through the labeling services, so the case is in the SME's queue."""

import uuid

from labeling.models import Disagreement
from labeling.services import annotations as labeling
from tests.factories import ExampleFactory

SETS = [("billing", "bug"), ("bug",), ("feature",)]


def ids(project, *names):
    return sorted(project.labels.get(name=name).pk for name in names)


def multi_case_make(project, raters, *, text="Charged twice, then the app crashed", external_id=None):
    example = ExampleFactory(
        project=project, text=text, **({"external_id": external_id} if external_id else {})
    )
    for user, names in zip(raters, SETS, strict=True):
        assignment = labeling.assignment_next(project=project, user=user)
        labeling.annotation_submit(
            project=project,
            user=user,
            example_id=assignment.example_id,
            labels=ids(project, *names),
            client_token=uuid.uuid4(),
        )
    return Disagreement.objects.get(example=example, status="open")
