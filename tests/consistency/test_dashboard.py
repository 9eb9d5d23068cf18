"""The agreement dashboard: who may see it, what it shows, the compute button and the progress poll."""

import re

import pytest
from django.urls import reverse

from consistency.models import AgreementReport
from consistency.report_services import agreement_report_compute
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory


def dashboard_url(slug="support"):
    return reverse("consistency:agreement_dashboard", args=[slug])


@pytest.fixture
def rated(project):
    labels = list(project.labels.all())
    raters = [UserFactory(username=f"rater{i}") for i in range(3)]
    for index in range(8):
        example = ExampleFactory(project=project, metadata={"channel": ["chat", "email"][index % 2]})
        for r, rater in enumerate(raters):
            AnnotationFactory(
                example=example, rater=rater, label=labels[(index + (r == 2) * (index % 3)) % 4]
            )
    return project


@pytest.mark.parametrize(
    ("client_fixture", "status"),
    [("manager_client", 200), ("sme_client", 200), ("labeler_client", 403), ("outsider_client", 404)],
)
def test_only_managers_and_smes_see_the_dashboard(request, project, client_fixture, status):
    client = request.getfixturevalue(client_fixture)
    assert client.get(dashboard_url()).status_code == status
    assert client.get(reverse("consistency:agreement_report_status", args=["support"])).status_code == status


def test_anonymous_users_are_sent_to_log_in(client, project):
    response = client.get(dashboard_url())
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert client.post(reverse("consistency:agreement_report_create", args=["support"])).status_code == 302
    assert not AgreementReport.objects.exists()


@pytest.mark.parametrize("client_fixture", ["labeler_client", "outsider_client"])
def test_labelers_and_outsiders_cannot_request_a_report(request, project, client_fixture):
    client = request.getfixturevalue(client_fixture)
    response = client.post(reverse("consistency:agreement_report_create", args=["support"]))
    assert response.status_code in (403, 404)
    assert not AgreementReport.objects.exists()


def test_dashboard_of_a_project_without_reports_or_annotations_renders(manager_client, project):
    response = manager_client.get(dashboard_url())
    assert response.status_code == 200
    assert b"No agreement report has been computed yet" in response.content


def test_dashboard_of_an_empty_report_says_why_values_are_missing(manager_client, project):
    agreement_report_compute(project_id=project.pk)
    response = manager_client.get(dashboard_url())
    assert response.status_code == 200
    assert b"There are no annotations." in response.content


def test_dashboard_shows_tables_heatmap_and_chart_data_without_inline_script(manager_client, rated):
    agreement_report_compute(project_id=rated.pk)
    agreement_report_compute(project_id=rated.pk)
    response = manager_client.get(dashboard_url())
    html = response.content.decode()
    for table in ("coefficients-table", "versions-table", "labels-table", "raters-table", "kappa-heatmap"):
        assert f'id="{table}"' in html
    assert "Fleiss&#x27; kappa" in html or "Fleiss' kappa" in html
    assert html.count('data-kappa="') == 6  # 3 raters: 3 pairs, both halves of the matrix
    assert 'id="agreement-data" type="application/json"' in html
    assert "dashboard.js" in html
    # CSP: no inline script bodies and no style attributes.
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html) == []
    assert " style=" not in html
    assert response.context["chart_data"]["history"][0]["fleiss_kappa"]["value"] is not None
    assert len(response.context["chart_data"]["history"]) == 2


def test_the_slice_parameter_is_checked_against_the_metadata_keys(manager_client, rated):
    agreement_report_compute(project_id=rated.pk, slice_field="channel")
    response = manager_client.get(dashboard_url(), {"slice": "channel"})
    assert 'id="slices-table"' in response.content.decode()
    assert [row["value"] for row in response.context["slice_rows"]] == ["chat", "email"]
    response = manager_client.get(dashboard_url(), {"slice": "metadata__channel__startswith"})
    assert response.status_code == 200
    assert response.context["chosen_slice"] == "channel"  # falls back to the report's own field


def test_asking_for_another_slice_offers_to_compute_it(manager_client, rated):
    agreement_report_compute(project_id=rated.pk)
    response = manager_client.get(dashboard_url(), {"slice": "channel"})
    assert response.context["slice_outdated"] is True
    assert b'name="slice" value="channel"' in response.content


def test_the_button_computes_a_report_and_redirects(
    manager_client, rated, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            reverse("consistency:agreement_report_create", args=["support"]), {"slice": "channel"}
        )
    assert response.status_code == 302
    assert response["Location"] == dashboard_url() + "?slice=channel"
    report = AgreementReport.objects.get()
    assert report.status == AgreementReport.Status.SUCCEEDED  # eager Celery in tests
    assert report.slice_field == "channel"
    assert report.requested_by.username == "manager"


def test_progress_partial_polls_while_computing_and_reloads_when_done(manager_client, rated):
    report = AgreementReport.objects.create(
        project=rated, status=AgreementReport.Status.RUNNING, progress_percent=40, progress_text="Per version"
    )
    url = reverse("consistency:agreement_report_status", args=["support"])
    response = manager_client.get(url, {"report": report.pk}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "Per version" in html
    assert "<html" not in html  # only the partial for htmx
    assert 'href="/projects/support/agreement/"' in html  # the refresh link works without JS
    page = manager_client.get(dashboard_url())
    assert 'hx-trigger="every 2s"' in page.content.decode()

    AgreementReport.objects.filter(pk=report.pk).update(status=AgreementReport.Status.SUCCEEDED, result={})
    response = manager_client.get(url, {"report": report.pk}, HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    assert "every 2s" not in response.content.decode()


def test_status_of_another_projects_report_is_not_shown(manager_client, project, other_project):
    foreign = AgreementReport.objects.create(project=other_project, status=AgreementReport.Status.RUNNING)
    url = reverse("consistency:agreement_report_status", args=["support"])
    response = manager_client.get(url, {"report": foreign.pk}, HTTP_HX_REQUEST="true")
    assert f"Report #{foreign.pk}" not in response.content.decode()
