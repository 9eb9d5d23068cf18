"""GET /api/v1/projects/<slug>/agreement/: the latest report's JSON, for managers and SMEs only."""

import pytest

from consistency.agreement.models import AgreementReport
from consistency.agreement.services import agreement_report_compute
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory

URL = "/api/v1/projects/support/agreement/"


@pytest.fixture
def report(project):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    labels = list(project.labels.all())
    for index in range(5):
        example = ExampleFactory(project=project)
        AnnotationFactory(example=example, rater=alice, label=labels[index % 4])
        AnnotationFactory(example=example, rater=bob, label=labels[index % 3])
    return agreement_report_compute(project_id=project.pk)


@pytest.mark.parametrize(("client_fixture", "status"), [("manager_client", 200), ("sme_client", 200)])
def test_managers_and_smes_get_the_latest_report(request, report, client_fixture, status):
    response = request.getfixturevalue(client_fixture).get(URL)
    assert response.status_code == status
    body = response.json()
    live = body.pop("human_level_performance")  # live, beside the stored report
    assert body == report.result
    assert live["overall"] == {"value": None, "ci95": None, "n": 0}  # no gold in this project
    assert response["X-Agreement-Report-Id"] == str(report.pk)
    assert response.json()["cohen_kappa"][0]["rater_a"] == "alice"


def test_labelers_get_403_anonymous_401(report, labeler_client, client):
    assert labeler_client.get(URL).status_code == 403
    client.logout()
    response = client.get(URL)
    assert response.status_code == 401  # token auth comes first, so DRF can ask for credentials
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_outsiders_cannot_tell_the_project_exists(report, outsider_client):
    assert outsider_client.get(URL).status_code == 404
    assert outsider_client.get("/api/v1/projects/nope/agreement/").status_code == 404


def test_the_newest_succeeded_report_wins_over_failed_and_pending_ones(report, manager_client, project):
    newer = agreement_report_compute(project_id=project.pk)
    AgreementReport.objects.create(project=project, status=AgreementReport.Status.FAILED, error="x")
    AgreementReport.objects.create(project=project, status=AgreementReport.Status.QUEUED)
    response = manager_client.get(URL)
    assert response["X-Agreement-Report-Id"] == str(newer.pk)


def test_404_with_a_clear_message_before_any_report(manager_client, project):
    response = manager_client.get(URL)
    assert response.status_code == 404
    assert response.json() == {"detail": response.json()["detail"], "status": None}
    assert "No agreement report" in response.json()["detail"]
    AgreementReport.objects.create(project=project, status=AgreementReport.Status.QUEUED)
    assert manager_client.get(URL).json()["status"] == "queued"
