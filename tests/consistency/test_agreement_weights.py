"""Ordinal projects choose linear or quadratic weights for Cohen's kappa: the settings page, the
agreement JSON that says which, and the values, checked against scikit-learn."""

import pytest
from django.urls import reverse
from sklearn.metrics import cohen_kappa_score

from consistency.agreement.services import agreement_report_compute
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory

SETTINGS = {
    "name": "Support tickets", "description": "", "overlap": 3, "lease_minutes": 30, "visible_metadata": "",
    "labels_are_ordinal": "on",
}  # fmt: skip


@pytest.fixture
def scale(project):
    """Four ordered labels; two raters one step apart on every other example."""
    labels = list(project.labels.order_by("position"))
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    codes = []
    for index in range(24):
        example = ExampleFactory(project=project)
        a, b = index % 4, min(index % 4 + index % 2, 3)
        AnnotationFactory(example=example, rater=alice, label=labels[a])
        AnnotationFactory(example=example, rater=bob, label=labels[b])
        codes.append((a, b))
    return codes


def test_quadratic_is_the_default_and_linear_can_be_chosen_on_the_settings_page(manager_client, project):
    url = reverse("projects:settings", args=[project.slug])
    page = manager_client.get(url).content.decode()
    assert "Weights of Cohen&#x27;s kappa (ordinal labels)" in page
    assert project.kappa_weights == "quadratic"
    assert manager_client.post(url, {**SETTINGS, "kappa_weights": "linear"}).status_code == 302
    project.refresh_from_db()
    assert (project.labels_are_ordinal, project.kappa_weights) == (True, "linear")
    # A form that leaves the setting out keeps it; an unknown value is refused.
    assert manager_client.post(url, SETTINGS).status_code == 302
    project.refresh_from_db()
    assert project.kappa_weights == "linear"
    assert manager_client.post(url, {**SETTINGS, "kappa_weights": "cubic"}).status_code == 400


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_the_agreement_json_says_which_weights_and_uses_them(project, scale, weights):
    project.labels_are_ordinal = True
    project.kappa_weights = weights
    project.save()
    result = agreement_report_compute(project_id=project.pk).result
    assert result["ordinal"] is True
    assert result["kappa_weights"] == weights
    (pair,) = result["cohen_kappa"]
    first, second = zip(*scale, strict=True)
    assert pair["value"] == pytest.approx(cohen_kappa_score(first, second, labels=range(4), weights=weights))


def test_nominal_projects_report_no_kappa_weights(project, scale, manager_client):
    result = agreement_report_compute(project_id=project.pk).result
    assert result["ordinal"] is False
    assert result["kappa_weights"] is None
    (pair,) = result["cohen_kappa"]
    first, second = zip(*scale, strict=True)
    assert pair["value"] == pytest.approx(cohen_kappa_score(first, second, labels=range(4)))
    html = manager_client.get(
        reverse("consistency:agreement_dashboard", args=[project.slug])
    ).content.decode()
    assert "weights" not in html.split('id="coefficients-table"')[0].split("<h2>Overall</h2>")[1]


def test_the_dashboard_says_which_weights_an_ordinal_report_used(project, scale, manager_client):
    project.labels_are_ordinal = True
    project.kappa_weights = "linear"
    project.save()
    agreement_report_compute(project_id=project.pk)
    html = manager_client.get(
        reverse("consistency:agreement_dashboard", args=[project.slug])
    ).content.decode()
    assert "Cohen's kappa linear weights (a project setting)" in html
