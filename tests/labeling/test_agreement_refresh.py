"""New annotations schedule one debounced agreement report, not one per submit."""

import uuid

import pytest

from consistency.agreement import services as report_services
from consistency.agreement.models import AgreementReport
from labeling.services.annotations import annotation_submit, assignment_next

pytestmark = pytest.mark.django_db


def submit_one(project, user):
    assignment = assignment_next(project=project, user=user)
    return annotation_submit(
        project=project, user=user, example_id=assignment.example_id,
        label_id=project.labels.first().pk, client_token=uuid.uuid4(),
    )  # fmt: skip


def test_submits_queue_a_single_debounced_report(settings, monkeypatch, project, examples, make_labeler,
                                                 django_capture_on_commit_callbacks):  # fmt: skip
    settings.CONCORD_AGREEMENT_AUTO_REFRESH = True
    queued = []
    monkeypatch.setattr(
        report_services.agreement_report_task, "apply_async", lambda *a, **kw: queued.append(kw)
    )
    with django_capture_on_commit_callbacks(execute=True):
        for name in ("ann", "bob", "cy"):
            submit_one(project, make_labeler(name))
    reports = AgreementReport.objects.filter(project=project)
    assert reports.count() == 1
    assert reports.get().status == AgreementReport.Status.QUEUED
    assert len(queued) == 1
    assert queued[0]["countdown"] == settings.CONCORD_AGREEMENT_DEBOUNCE_SECONDS


def test_auto_refresh_can_be_turned_off(settings, project, examples, make_labeler):
    settings.CONCORD_AGREEMENT_AUTO_REFRESH = False
    submit_one(project, make_labeler("ann"))
    assert not AgreementReport.objects.filter(project=project).exists()
