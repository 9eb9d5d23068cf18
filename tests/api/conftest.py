"""API fixtures: data in two projects, and an API client per role authenticated by token or session."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from consistency.agreement.models import AgreementReport
from consistency.releases.services import release_build
from consistency.review.models import Resolution
from core.services import api_token_create
from labeling.models import ConsensusLabel, Disagreement
from projects.models import ImportBatch, Label, Role
from tests.factories import (
    AnnotationFactory,
    ExampleFactory,
    GuidelineVersionFactory,
    MembershipFactory,
    UserFactory,
)

# Put in every text field of the other project, so a leak shows up in any response body.
OTHER_MARKER = "zz-other-project-secret"


@dataclass
class ApiData:
    project: object
    other_project: object
    examples: list
    other_examples: list
    guideline: object
    import_batch: object
    other_import_batch: object
    other_guideline: object


@pytest.fixture
def api_data(project, other_project, manager, sme, labeler, outsider):
    """Examples, annotations (by the labeler, the SME and a second labeler), a guideline version,
    an import and an agreement report in `project`; the same kinds of rows in `other_project`."""
    second_labeler = UserFactory(username="second")
    MembershipFactory(user=second_labeler, project=project, role=Role.LABELER)
    guideline = GuidelineVersionFactory(project=project, number=1, changelog="First.")
    labels = list(project.labels.all())
    examples = [ExampleFactory(project=project, external_id=f"a-{n}") for n in range(4)]
    for index, example in enumerate(examples):
        for rater in (labeler, sme, second_labeler):
            AnnotationFactory(
                example=example, rater=rater, label=labels[index % 4], guideline_version=guideline
            )
        example.annotation_count = 3
        example.save(update_fields=["annotation_count"])
    import_batch = ImportBatch.objects.create(
        project=project, source_name="tickets.csv", file_format="csv", created_by=manager
    )
    AgreementReport.objects.create(
        project=project, status=AgreementReport.Status.SUCCEEDED, result={"project": project.slug}
    )

    other_guideline = GuidelineVersionFactory(
        project=other_project, number=1, changelog=OTHER_MARKER, body=OTHER_MARKER
    )
    other_label = other_project.labels.first()
    other_label.description = OTHER_MARKER
    other_label.save()
    # Not LabelFactory: its global shortcut-key sequence is what other test modules rely on.
    Label.objects.create(project=other_project, name=OTHER_MARKER, shortcut_key="3")
    other_examples = [
        ExampleFactory(project=other_project, external_id=f"{OTHER_MARKER}-{n}", text=OTHER_MARKER)
        for n in range(3)
    ]
    for example in other_examples:
        AnnotationFactory(
            example=example,
            rater=outsider,
            label=other_label,
            note=OTHER_MARKER,
            guideline_version=other_guideline,
        )
    other_import_batch = ImportBatch.objects.create(
        project=other_project, source_name=f"{OTHER_MARKER}.csv", file_format="csv", created_by=outsider
    )
    return ApiData(
        project=project,
        other_project=other_project,
        examples=examples,
        other_examples=other_examples,
        guideline=guideline,
        import_batch=import_batch,
        other_import_batch=other_import_batch,
        other_guideline=other_guideline,
    )


def token_client(user) -> Client:
    _token, key = api_token_create(user=user, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)  # Client.login() has no request for django-axes
    return client


@pytest.fixture
def api_clients(manager, sme, labeler, outsider):
    """A factory: api_clients(auth) -> {role name: Client}, auth being "token" or "session"."""

    def build(auth: str) -> dict[str, Client]:
        make = token_client if auth == "token" else session_client
        return {
            "anonymous": Client(),
            "labeler": make(labeler),
            "sme": make(sme),
            "manager": make(manager),
            "outsider": make(outsider),
        }

    return build


@dataclass
class ApiDisagreements:
    open: object
    other: object


@pytest.fixture
def api_disagreements(api_data, labeler, sme, outsider):
    """An open disagreement in `project` (billing against bug, under guideline version 1) and a
    resolved one in `other_project` whose every text field carries OTHER_MARKER."""
    labels = {label.name: label for label in api_data.project.labels.all()}
    example = ExampleFactory(
        project=api_data.project, external_id="split-1", text="Charged twice, app crashed"
    )
    second = User.objects.get(username="second")
    for rater, name in ((labeler, "billing"), (sme, "bug"), (second, "billing")):
        AnnotationFactory(
            example=example, rater=rater, label=labels[name], guideline_version=api_data.guideline
        )
    example.annotation_count = 3
    example.save(update_fields=["annotation_count"])
    disagreement = Disagreement.objects.create(
        project=api_data.project,
        example=example,
        reason=Disagreement.Reason.BELOW_THRESHOLD,
        label_a=labels["billing"],
        label_b=labels["bug"],
        majority_share=2 / 3,
    )
    disagreement.guideline_versions.set([api_data.guideline])

    other_example = api_data.other_examples[0]
    other = Disagreement.objects.create(
        project=api_data.other_project,
        example=other_example,
        reason=Disagreement.Reason.AMBIGUOUS,
        label_a=other_example.annotations.first().label,
        status=Disagreement.Status.RESOLVED,
        resolved_at=timezone.now(),
    )
    other.guideline_versions.set([api_data.other_guideline])
    Resolution.objects.create(
        project=api_data.other_project,
        disagreement=other,
        example=other_example,
        verdict=Resolution.Verdict.EXCLUDED,
        rationale=OTHER_MARKER,
        sme=outsider,
    )
    return ApiDisagreements(open=disagreement, other=other)


@dataclass
class ApiReleases:
    release: object
    other: object


def _release_of(project, examples, user, tag):
    """Unanimous consensus labels for `examples`, then a release built from them now."""
    label = project.labels.first()
    for example in examples:
        ConsensusLabel.objects.create(
            example=example,
            label=label,
            source=ConsensusLabel.Source.UNANIMOUS,
            agreement=1.0,
            n_raters=3,
            decided_at=timezone.now(),
        )
    release = release_build(project=project, user=user, tag=tag)
    assert release.status == "ready", release.error
    return release


@pytest.fixture
def api_releases(api_data, manager, outsider):
    """A ready release "v1" of `project` (three of its examples) and a ready release of
    `other_project` tagged OTHER_MARKER, whose items carry OTHER_MARKER too."""
    return ApiReleases(
        release=_release_of(api_data.project, api_data.examples[:3], manager, "v1"),
        other=_release_of(api_data.other_project, api_data.other_examples, outsider, OTHER_MARKER),
    )
