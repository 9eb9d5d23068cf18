"""The job queue (the Celery broker) cannot be reached: an outside audit saw an upload, a release, a
report request and even a label submit answer 500 after their rows were committed, and those rows
then waited forever. Job rows are the outbox: the request succeeds and says the job waits for a
worker, and the sweeper sends the waiting rows once the broker is back.

The broker is made unreachable for real (a Redis URL on a port where nothing listens), not mocked;
the transactional tests let each request commit and run its on-commit callbacks as in production.
"""

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consistency.agreement.models import AgreementReport
from consistency.releases.models import DatasetRelease
from core.jobs.services import jobs_sweep
from labeling.models import Annotation, Assignment, ConsensusLabel
from projects.models import ImportBatch, Role

from .factories import ExampleFactory, LabelFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def client_of(user) -> Client:
    client = Client(raise_request_exception=False)  # a 500 is an answer here, not a test error
    client.force_login(user)
    return client


@pytest.fixture
def team(db):
    project = ProjectFactory(slug="outbox", overlap=1)
    bug = LabelFactory(project=project, name="bug", shortcut_key="1")
    LabelFactory(project=project, name="other", shortcut_key="2")
    people = {}
    for role in (Role.MANAGER, Role.LABELER):
        people[role] = UserFactory(username=f"outbox-{role}")
        MembershipFactory(user=people[role], project=project, role=role)
    example = ExampleFactory(project=project, external_id="decided")
    ConsensusLabel.objects.create(
        example=example, label=bug, source="unanimous", agreement=1.0, n_raters=3, decided_at=timezone.now()
    )
    return project, people


def test_an_upload_is_accepted_and_waits_for_a_worker(team, broker_unreachable):
    project, people = team
    client = client_of(people[Role.MANAGER])
    upload = b"id,text\n1,My invoice is wrong\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = client.post(
        reverse("projects:import", args=[project.slug]),
        {"kind": "examples", "file": SimpleUploadedFile("tickets.csv", upload), "file_format": ""},
    )
    api = client.post(
        f"/api/v1/projects/{project.slug}/examples/import/",
        {"file": SimpleUploadedFile("more.csv", upload)},
    )

    assert page.status_code == 302
    assert api.status_code == 202
    assert api.json()["status"] == "queued"
    assert "waiting for a worker" in api.json()["job"]["progress_text"].lower()
    status = client.get(page["Location"])
    assert "job queue cannot be reached" in status.content.decode()
    assert ImportBatch.objects.filter(status="queued").count() == 2

    broker_unreachable.restore()  # the broker is back (tests run jobs inline once it is)
    jobs_sweep()
    assert set(ImportBatch.objects.values_list("status", flat=True)) == {"succeeded"}
    assert project.examples.filter(external_id="1").exists()


def test_a_release_is_accepted_and_waits_for_a_worker(team, broker_unreachable):
    project, people = team
    client = client_of(people[Role.MANAGER])
    page = client.post(
        reverse("consistency:releases", args=[project.slug]),
        {"tag": "", "sources": ["unanimous"], "min_agreement": "0", "min_posterior": "0.9",
         "train": "1", "dev": "0", "test": "0", "stratify_field": ""},
    )  # fmt: skip
    api = client.post(f"/api/v1/projects/{project.slug}/releases/", {}, content_type="application/json")

    assert page.status_code == 302
    assert api.status_code == 202
    assert api.json()["status"] == "building"  # the API's word for "not ready yet" is unchanged
    assert api.json()["job"]["state"] == "queued"
    assert "job queue cannot be reached" in client.get(page["Location"]).content.decode()

    broker_unreachable.restore()
    jobs_sweep()
    assert list(DatasetRelease.objects.values_list("status", "n_items")) == [("ready", 1), ("ready", 1)]


def test_a_report_request_is_accepted_and_waits_for_a_worker(team, broker_unreachable):
    project, people = team
    client = client_of(people[Role.MANAGER])
    response = client.post(reverse("consistency:agreement_report_create", args=[project.slug]))
    assert response.status_code == 302
    report = AgreementReport.objects.get()
    assert report.status == "queued"
    dashboard = client.get(response["Location"]).content.decode()
    assert "job queue cannot be reached" in dashboard

    broker_unreachable.restore()
    jobs_sweep()
    report.refresh_from_db()
    assert report.status == "succeeded"


def test_a_label_submit_is_saved_and_its_agreement_refresh_is_not_lost(team, broker_unreachable, settings):
    settings.CONCORD_AGREEMENT_AUTO_REFRESH = True
    settings.CONCORD_AGREEMENT_DEBOUNCE_SECONDS = 0
    project, people = team
    ExampleFactory(project=project, external_id="to-label")
    labeler = people[Role.LABELER]
    client = client_of(labeler)
    client.get(reverse("labeling:label", args=[project.slug]))
    example = Assignment.objects.filter(rater=labeler, status="leased").order_by("expires_at", "id")[0]
    example = example.example
    response = client.post(
        reverse("labeling:submit", args=[project.slug, example.pk]),
        {"label": project.labels.get(name="bug").pk, "client_token": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    assert Annotation.objects.filter(example=example, rater=labeler).exists()
    waiting = AgreementReport.objects.get()
    assert waiting.status == "queued"

    # One lost refresh used to stop the automatic refresh of the project for good: the next
    # submits found a report "queued" and added none. The sweeper sends it when the broker is back.
    broker_unreachable.restore()
    jobs_sweep()
    waiting.refresh_from_db()
    assert waiting.status == "succeeded"
    ExampleFactory(project=project, external_id="next")
    client.get(reverse("labeling:label", args=[project.slug]))
    example = Assignment.objects.filter(rater=labeler, status="leased").order_by("expires_at", "id")[0]
    example = example.example
    client.post(
        reverse("labeling:submit", args=[project.slug, example.pk]),
        {"label": project.labels.get(name="other").pk, "client_token": str(uuid.uuid4())},
    )
    assert AgreementReport.objects.filter(status="succeeded").count() == 2
