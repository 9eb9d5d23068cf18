"""Agreement reports as background jobs that recover: a report whose worker died is computed again;
a failed report says why on the dashboard and offers Retry (reports are history, so a retry is a new
report, sliced the same way); the API's answer before any report carries the job's state."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from consistency.agreement.models import AgreementReport
from core.jobs.services import jobs_sweep
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated(project):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    labels = list(project.labels.all())
    for index in range(4):
        example = ExampleFactory(project=project, metadata={"channel": "chat"})
        AnnotationFactory(example=example, rater=alice, label=labels[index % 4])
        AnnotationFactory(example=example, rater=bob, label=labels[index % 2])
    return project


def test_a_report_whose_worker_died_is_computed_again_by_the_sweeper(rated):
    report = AgreementReport.objects.create(
        project=rated,
        status="running",
        started_at=timezone.now() - timedelta(minutes=30),
        heartbeat_at=timezone.now() - timedelta(minutes=10),
        worker="another-host/b00t/7/8",
        attempts=1,
        progress_percent=40,
    )

    assert jobs_sweep()["agreement_report"]["restarted"] == 1

    report.refresh_from_db()
    assert (report.status, report.attempts, report.n_annotations) == ("succeeded", 2, 8)


def test_a_failed_report_says_why_and_retry_computes_a_new_one_sliced_the_same(
    rated, manager_client, django_capture_on_commit_callbacks
):
    failed = AgreementReport.objects.create(
        project=rated,
        status="failed",
        slice_field="channel",
        error="Its worker stopped while running it (killed, out of memory or restarted) 2 times.",
        retryable=True,
        finished_at=timezone.now(),
    )
    dashboard = manager_client.get(
        reverse("consistency:agreement_dashboard", args=[rated.slug])
    ).content.decode()
    assert "Its worker stopped while running it" in dashboard
    retry_url = reverse("consistency:agreement_report_retry", args=[rated.slug, failed.pk])
    assert f'action="{retry_url}"' in dashboard

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(retry_url)

    assert response.status_code == 302
    assert response["Location"].endswith("?slice=channel")
    new = AgreementReport.objects.exclude(pk=failed.pk).get()
    assert (new.status, new.slice_field, new.trigger) == ("succeeded", "channel", "manual")
    failed.refresh_from_db()
    assert failed.status == "failed"  # history is not rewritten


def test_the_api_says_how_the_waiting_report_is_doing(rated, manager_client):
    from consistency.agreement.services import agreement_report_request

    agreement_report_request(project=rated, user=None)
    answer = manager_client.get(f"/api/v1/projects/{rated.slug}/agreement/")
    assert answer.status_code == 404
    body = answer.json()
    assert body["status"] == "queued"
    assert (body["job"]["kind"], body["job"]["state"], body["job"]["percent"]) == (
        "agreement_report",
        "queued",
        0,
    )
