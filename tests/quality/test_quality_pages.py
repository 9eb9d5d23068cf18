"""The gold and model pages: managers and SMEs only (labelers 403, non-members 404), the SME
labels drawn gold, the model report page shows the slices and the chart's data, and labelers
never see gold or predictions."""

import json
import re

import pytest
from django.urls import reverse

from projects.models import GoldLabel, Prediction, PredictionSet
from tests.factories import ExampleFactory


@pytest.fixture
def model(project):
    examples = [ExampleFactory(project=project, metadata={"channel": c}) for c in ("email", "chat", "chat")]
    label = project.labels.get(name="bug")
    prediction_set = PredictionSet.objects.create(
        project=project, model_name="clf", version="2", file_sha256="x"
    )
    for example in examples:
        GoldLabel.objects.create(
            project=project, example=example, label=label, source=GoldLabel.Source.IMPORTED
        )
        Prediction.objects.create(prediction_set=prediction_set, example=example, label=label)
    return prediction_set


def test_access_to_the_quality_pages(
    project, model, manager_client, sme_client, labeler_client, outsider_client
):
    pages = [
        reverse("consistency:quality", args=[project.slug]),
        reverse("consistency:model_report", args=[project.slug, model.pk]),
    ]
    for url in pages:
        assert manager_client.get(url).status_code == 200
        assert sme_client.get(url).status_code == 200
        assert labeler_client.get(url).status_code == 403
        assert outsider_client.get(url).status_code == 404
    draw = reverse("consistency:gold_draw", args=[project.slug])
    assert sme_client.post(draw, {"size": 1}).status_code == 403
    assert labeler_client.post(draw, {"size": 1}).status_code == 403
    assert outsider_client.post(draw, {"size": 1}).status_code == 404


def test_manager_draws_gold_and_the_sme_labels_it(project, manager_client, sme_client, sme):
    ExampleFactory.create_batch(4, project=project)
    manager_client.post(reverse("consistency:gold_draw", args=[project.slug]), {"size": 2, "seed": 3})
    page = sme_client.get(reverse("consistency:quality", args=[project.slug])).content.decode()
    assert 'id="gold-waiting"' in page
    waiting = GoldLabel.objects.filter(label__isnull=True).first()
    label = project.labels.get(name="feature")
    url = reverse("consistency:gold_label", args=[project.slug, waiting.example_id])
    assert sme_client.post(url, {"label": label.pk}).status_code == 302
    waiting.refresh_from_db()
    assert (waiting.label, waiting.labeled_by) == (label, sme)


def test_model_report_page_has_the_slices_and_chart_data(project, model, sme_client):
    url = reverse("consistency:model_report", args=[project.slug, model.pk])
    page = sme_client.get(url, {"slice": "channel"}).content.decode()
    assert 'id="chart-gap"' in page
    data = json.loads(re.search(r'id="model-report-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert {row["value"] for row in data["slices"]} == {"email", "chat"}
    assert "clf 2" in page


def test_labelers_never_see_predictions_or_gold(project, model, labeler_client, labeler):
    page = labeler_client.get(reverse("labeling:label", args=[project.slug])).content.decode()
    assert "clf" not in page
    assert "gold" not in page.lower()
    body = labeler_client.post(f"/api/v1/projects/{project.slug}/assignments/next/").content.decode()
    assert "clf" not in body
    assert "gold" not in body.lower()
    assert labeler_client.get(f"/api/v1/projects/{project.slug}/models/").status_code == 403


def test_review_page_shows_predictions_as_a_models_and_tags_the_example(project, model, sme_client):
    from labeling.models import Disagreement

    example = Prediction.objects.filter(prediction_set=model).first().example
    disagreement = Disagreement.objects.create(
        project=project, example=example, reason=Disagreement.Reason.SPLIT
    )
    url = reverse("consistency:review_item", args=[project.slug, disagreement.pk])
    page = sme_client.get(url).content.decode()
    assert "Models&#x27; predictions" in page or "Models' predictions" in page
    assert "clf 2" in page
    tag_url = reverse("consistency:example_tags", args=[project.slug, example.pk])
    response = sme_client.post(tag_url, {"tag": "Sarcasm", "next": url})
    assert response.status_code == 302
    assert response.url == url  # back to the case on screen
    assert list(example.tags.values_list("name", flat=True)) == ["sarcasm"]
    assert sme_client.post(tag_url, {"tag": "x", "next": "https://evil.example/"}).url.endswith(
        f"/{example.pk}/"
    )


def test_gold_sample_and_prediction_upload_over_the_api(project, manager_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ExampleFactory.create_batch(3, project=project)
    url = f"/api/v1/projects/{project.slug}/gold/sample/"
    response = manager_client.post(url, {"seed": 0}, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["drawn"] == 3  # 100 by default, all 3 here
    assert manager_client.post(url, {}, content_type="application/json").json()["drawn"] == 0
    upload = SimpleUploadedFile("p.csv", b"example_id,label\n", content_type="text/csv")
    response = manager_client.post(
        f"/api/v1/projects/{project.slug}/predictions/import/",
        {"file": upload, "model": "m", "replace": "true"},
    )
    assert response.status_code == 202
