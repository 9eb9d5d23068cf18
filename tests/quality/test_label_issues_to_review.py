"""Label issues for the SME: on seeded data with planted label errors, the ranking (raters and a
model's probabilities) sends the planted examples to the review queue with the reason shown, at
most the project's top N, never twice."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from labeling.models import ConsensusLabel, Disagreement
from projects.models import Prediction, PredictionSet
from tests.factories import AnnotationFactory, ExampleFactory

N, PLANTED = 48, 6


@pytest.fixture
def planted(project, raters):
    labels = list(project.labels.order_by("position"))
    rng = np.random.default_rng(5)
    model = PredictionSet.objects.create(
        project=project,
        model_name="clf",
        version="1",
        file_sha256="x",
        label_ids=[label.pk for label in labels],
    )
    wrong = set()
    for i in range(N):
        example = ExampleFactory(project=project)
        truth = i % 4
        given = (truth + 1) % 4 if i < PLANTED else truth  # the planted errors: the raters' majority is wrong
        if i < PLANTED:
            wrong.add(example.pk)
        votes = (
            [given, given, truth] if i < PLANTED else [truth, truth, (truth + 2) % 4 if i % 5 == 0 else truth]
        )
        for rater, vote in zip(raters, votes, strict=True):
            AnnotationFactory(example=example, rater=rater, label=labels[vote])
        share = votes.count(given) / 3
        source = ConsensusLabel.Source.UNANIMOUS if share == 1 else ConsensusLabel.Source.MAJORITY
        ConsensusLabel.objects.create(
            example=example,
            label=labels[given],
            source=source,
            agreement=share,
            decided_at=example.created_at,
        )
        probs = rng.dirichlet(np.ones(4) * 0.3) * 0.1
        probs[truth] += 0.9
        Prediction.objects.create(
            prediction_set=model,
            example=example,
            label=labels[truth],
            probabilities=(probs / probs.sum()).tolist(),
        )
    project.label_issue_top_n = PLANTED
    project.save()
    return model, wrong


def test_planted_errors_go_to_review_with_the_reason(project, planted, sme_client):
    model, wrong = planted
    out = io.StringIO()
    call_command("label_issues", project.slug, "--model", "clf", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["method"] == "crowdlab"
    sent = set(
        Disagreement.objects.filter(reason=Disagreement.Reason.LABEL_ISSUE).values_list(
            "example_id", flat=True
        )
    )
    assert len(sent) == PLANTED == result["sent"], result
    assert len(sent & wrong) >= 0.8 * PLANTED
    case = Disagreement.objects.filter(example_id__in=sent & wrong).first()
    assert case.reason_detail.startswith("Likely label error:")
    assert "clf 1" in case.reason_detail
    page = sme_client.get(reverse("consistency:review_item", args=[project.slug, case.pk])).content.decode()
    assert case.reason_detail.split(" (")[0] in page

    call_command("label_issues", project.slug, "--model", "clf", stdout=io.StringIO())
    assert Disagreement.objects.filter(reason=Disagreement.Reason.LABEL_ISSUE).count() <= 2 * PLANTED
    assert Disagreement.objects.filter(example_id__in=sent, status="open").count() == PLANTED  # never twice


def test_dry_run_writes_nothing_and_labelers_cannot_run_it(project, planted, labeler_client, manager_client):
    out = io.StringIO()
    call_command("label_issues", project.slug, "--dry-run", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["method"] == "weighted_vote"  # raters only
    assert result["sent"] == 0
    assert not Disagreement.objects.exists()
    url = f"/api/v1/projects/{project.slug}/label-issues/"
    assert labeler_client.post(url, {}, content_type="application/json").status_code == 403
    response = manager_client.post(url, {"model": planted[0].pk, "top_n": 2}, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["sent"] == 2
