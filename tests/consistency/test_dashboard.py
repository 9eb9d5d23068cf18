"""The agreement dashboard: who may see it, what it shows, the compute button and the progress poll."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from consistency.agreement.models import AgreementReport
from consistency.agreement.services import (
    agreement_refresh_soon,
    agreement_report_compute,
    agreement_report_run,
)
from consistency.agreement.tasks import agreement_report_task
from consistency.review.models import RelabeledExample, RelabelRequest
from labeling.models import Annotation
from projects.models import GuidelineVersion
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, UserFactory


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


def versioned_project(project, *, n_examples, improve):
    """Three raters label `n_examples` under v1 (split on every other example), then the same examples
    again under v2 (unanimous if `improve`, else the same labels); the v1 labels are superseded."""
    labels = list(project.labels.all())
    raters = [UserFactory(username=f"rater{i}") for i in range(3)]
    v1 = GuidelineVersionFactory(project=project, number=1)
    v2 = GuidelineVersionFactory(project=project, number=2)
    examples = [ExampleFactory(project=project) for _ in range(n_examples)]
    for version in (v1, v2):
        for index, example in enumerate(examples):
            for r, rater in enumerate(raters):
                split = r == 2 and index % 2 == 0 and not (version == v2 and improve)
                AnnotationFactory(
                    example=example,
                    rater=rater,
                    label=labels[(index + split) % 4],
                    guideline_version=version,
                    superseded_at=timezone.now() if version == v1 else None,
                )
    return examples


def test_before_after_shows_the_paired_change_with_its_interval_and_verdict(manager_client, project):
    versioned_project(project, n_examples=40, improve=True)
    agreement_report_compute(project_id=project.pk)
    html = manager_client.get(dashboard_url()).content.decode()
    block = html[html.index('id="before-after"') :]
    block = block[: block.index("</section>")]
    assert "v1 and v2, on the same examples" in block
    assert "Rests on <strong>40 examples</strong>" in block
    assert "paired bootstrap" in block
    assert "Percent agreement rose by +0.33 (95% interval +" in block
    assert "Too few to judge" not in block
    assert "left out" not in block
    assert "covering different examples" not in html  # the old wording is gone
    assert "Rows cover different examples" in html


def test_before_after_says_plainly_when_too_few_examples_and_which_were_left_out(manager_client, project):
    examples = versioned_project(project, n_examples=12, improve=True)
    # Four of them were sent back because their raters disagreed (between their v1 and v2 labels).
    first_v2 = Annotation.objects.filter(guideline_version__number=2).order_by("id").first().pk
    request = RelabelRequest.objects.create(
        project=project, scope="disagreements", guideline_version=GuidelineVersion.objects.get(number=2)
    )
    for example in examples[:4]:
        RelabeledExample.objects.create(request=request, example=example, annotation_mark=first_v2 - 1)
    agreement_report_compute(project_id=project.pk)
    html = manager_client.get(dashboard_url()).content.decode()
    assert "Rests on <strong>8 examples</strong>" in html
    assert "4 examples were left out: sent back because their raters disagreed" in html
    assert "<strong>Too few to judge:</strong> a verdict needs at least 30 examples" in html
    assert "Percent agreement: too few examples to judge." in html
    assert "rose by" not in html


def test_a_command_report_takes_over_the_queued_refresh_so_the_latest_is_the_newest(
    manager_client, rated, django_capture_on_commit_callbacks
):
    """A labeler's submit queued a refresh (it waits a minute); meanwhile the command line (or the
    demo loader) computes a report. The refresh used to run afterwards as an older report number
    and was shown as the latest, with the history axis reading #2, #1."""
    with (
        mock.patch.object(agreement_report_task, "apply_async"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        queued = agreement_refresh_soon(project_id=rated.pk)
    computed = agreement_report_compute(project_id=rated.pk)
    assert agreement_report_run(report_id=queued.pk) is None  # the delayed message finds it done
    assert computed.pk == queued.pk
    assert AgreementReport.objects.filter(status="succeeded").count() == 1
    agreement_report_compute(project_id=rated.pk)
    response = manager_client.get(dashboard_url())
    ids = [row["id"] for row in response.context["chart_data"]["history"]]
    assert ids == sorted(ids) == [queued.pk, queued.pk + 1]
    assert response.context["report"].pk == queued.pk + 1


def test_the_latest_report_is_the_one_computed_on_the_newest_data(manager_client, rated):
    """Two workers: report A read the annotations first but finished last. B is the latest."""
    now = timezone.now()
    result = agreement_report_compute(project_id=rated.pk).result
    AgreementReport.objects.all().delete()

    def report(started, finished):
        return AgreementReport.objects.create(
            project=rated, status="succeeded", result=result, n_annotations=result["n_annotations"],
            started_at=now - timedelta(minutes=started), finished_at=now - timedelta(minutes=finished),
        )  # fmt: skip

    slow = report(started=10, finished=1)
    fast = report(started=5, finished=4)
    response = manager_client.get(dashboard_url())
    assert response.context["report"] == fast
    html = response.content.decode()
    assert f"Latest report #{fast.pk}" in html
    history = response.context["chart_data"]["history"]
    assert [row["id"] for row in history] == [slow.pk, fast.pk]
    assert [row["data_as_of"] for row in history] == sorted(row["data_as_of"] for row in history)
    assert manager_client.get("/api/v1/projects/support/agreement/")["X-Agreement-Report-Id"] == str(fast.pk)


def test_a_report_stored_before_the_json_changed_still_renders(manager_client, rated):
    """Reports are append-only: one stored with the old per-rater keys and no before/after block
    must still show, without the new columns' figures."""
    result = agreement_report_compute(project_id=rated.pk).result
    AgreementReport.objects.all().delete()
    result.pop("before_after")
    result.pop("kappa_weights")
    for row in result["per_rater"]:
        row.pop("agreement_with_sme_on_disputed")
        row.pop("loo_agreement_ci95")
        row.update(gold_accuracy=0.5, n_gold=2, gold_accuracy_per_label=[])
    now = timezone.now()
    AgreementReport.objects.create(
        project=rated, status="succeeded", result=result, started_at=now, finished_at=now, n_annotations=24
    )
    response = manager_client.get(dashboard_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="raters-table"' in html
    assert "Before and after" not in html
    # The old "accuracy against gold" is not shown under the new name.
    rows = html[html.index('id="raters-table"') :]
    rows = rows[rows.index("<tbody>") : rows.index("</tbody>")]
    assert rows.count("<td>–</td>") == 6
    assert "50%" not in rows


def test_the_raters_table_shows_agreement_with_the_sme_with_its_interval_and_count(manager_client, rated):
    example = rated.examples.order_by("id").first()
    billing = rated.labels.get(name="billing")
    agreement_report_compute(project_id=rated.pk, gold={example.pk: (billing.pk, None)})
    html = manager_client.get(dashboard_url()).content.decode()
    assert "<th>Agreement with the SME on disputed examples</th>" in html
    assert "accuracy" not in html.lower().replace("it is not accuracy", "")
    rows = html[html.index('id="raters-table"') :]
    assert '100% <span class="muted">[21–100%] of 1</span>' in rows  # Wilson interval of 1 in 1
    assert 'billing 100% <span class="muted">[21–100%] of 1</span>' in rows
