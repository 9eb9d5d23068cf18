"""Agreement reports as background jobs: debounced refresh, on-demand requests, idempotent task."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from consistency.agreement.models import AgreementReport
from consistency.agreement.services import (
    agreement_refresh_soon,
    agreement_report_compute,
    agreement_report_request,
    agreement_report_run,
)
from consistency.agreement.tasks import agreement_report_task
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory


@pytest.fixture
def two_raters(project):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    labels = list(project.labels.all())
    for index in range(4):
        example = ExampleFactory(project=project)
        AnnotationFactory(example=example, rater=alice, label=labels[index % 4])
        AnnotationFactory(example=example, rater=bob, label=labels[index % 2])
    return project


def test_two_refreshes_queue_one_report_with_the_debounce_delay(project, django_capture_on_commit_callbacks):
    with (
        mock.patch.object(agreement_report_task, "apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        first = agreement_refresh_soon(project_id=project.pk, debounce_seconds=30)
        second = agreement_refresh_soon(project_id=project.pk, debounce_seconds=30)
    assert first is not None
    assert second is None
    assert len(callbacks) == 1
    apply_async.assert_called_once_with(args=[first.pk], countdown=30)
    report = AgreementReport.objects.get()
    assert report.status == AgreementReport.Status.QUEUED
    assert report.trigger == AgreementReport.Trigger.AUTO


def test_a_running_report_does_not_swallow_a_refresh(project, django_capture_on_commit_callbacks):
    # A running report may have read the annotations before the new one arrived.
    AgreementReport.objects.create(project=project, status=AgreementReport.Status.RUNNING)
    with (
        mock.patch.object(agreement_report_task, "apply_async"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert agreement_refresh_soon(project_id=project.pk) is not None
    assert AgreementReport.objects.filter(status=AgreementReport.Status.QUEUED).count() == 1


def test_refresh_then_eager_task_computes_the_report(two_raters, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = agreement_refresh_soon(project_id=two_raters.pk, debounce_seconds=0)
    report.refresh_from_db()
    assert report.status == AgreementReport.Status.SUCCEEDED
    assert report.n_annotations == 8
    assert report.result["n_raters"] == 2
    assert report.progress_percent == 100
    assert report.started_at <= report.finished_at


def test_the_task_never_recomputes_a_finished_report(two_raters, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = agreement_refresh_soon(project_id=two_raters.pk, debounce_seconds=0)
    report.refresh_from_db()
    finished_at, result = report.finished_at, report.result
    AnnotationFactory(example=ExampleFactory(project=two_raters), label=two_raters.labels.first())
    agreement_report_task.apply(args=[report.pk])  # a redelivered message
    assert agreement_report_run(report_id=report.pk) is None
    report.refresh_from_db()
    assert report.finished_at == finished_at
    assert report.result == result
    assert AgreementReport.objects.count() == 1


def test_a_report_left_running_by_a_dead_worker_is_run_again(two_raters):
    stale = AgreementReport.objects.create(
        project=two_raters,
        status=AgreementReport.Status.RUNNING,
        started_at=timezone.now() - timedelta(days=1),
    )
    fresh = AgreementReport.objects.create(
        project=two_raters, status=AgreementReport.Status.RUNNING, started_at=timezone.now()
    )
    assert agreement_report_run(report_id=fresh.pk) is None
    assert agreement_report_run(report_id=stale.pk).status == AgreementReport.Status.SUCCEEDED


def test_a_manual_request_takes_over_the_queued_refresh(
    two_raters, manager, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(agreement_report_task, "apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        queued = agreement_refresh_soon(project_id=two_raters.pk)
        requested = agreement_report_request(project=two_raters, user=manager, slice_field="channel")
    assert requested.pk == queued.pk
    assert requested.requested_by == manager
    assert requested.slice_field == "channel"
    assert apply_async.call_args_list[-1] == mock.call(args=[queued.pk], countdown=0)
    assert AgreementReport.objects.count() == 1


def test_a_manual_request_ignores_an_unknown_slice_field(
    two_raters, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = agreement_report_request(project=two_raters, user=manager, slice_field="metadata__secret")
    report.refresh_from_db()
    assert report.slice_field == ""
    assert report.status == AgreementReport.Status.SUCCEEDED


def test_a_failure_is_recorded_not_raised(two_raters):
    with mock.patch("consistency.agreement.services.agreement_compute", side_effect=RuntimeError("boom")):
        report = agreement_report_compute(project_id=two_raters.pk)
    assert report.status == AgreementReport.Status.FAILED
    assert "RuntimeError" in report.error
    assert report.finished_at is not None
