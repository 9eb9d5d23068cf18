"""API fixtures: data in two projects, and an API client per role authenticated by token or session."""

from dataclasses import dataclass

import pytest
from django.test import Client

from consistency.models import AgreementReport
from core.services import api_token_create
from projects.models import ImportBatch, Label, Role
from tests.factories import (
    PASSWORD,
    AnnotationFactory,
    ExampleFactory,
    GuidelineVersionFactory,
    MembershipFactory,
    UserFactory,
)

# Put in every text field of the other project, so a leak shows up in any response body.
OTHER_MARKER = "zz-other-project-secret"


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """Uploaded import files go to a temporary folder, not var/private."""
    location = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    return location


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
    assert client.login(username=user.username, password=PASSWORD)
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
