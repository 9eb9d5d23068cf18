"""Resolving a span case over the API: gold spans in the labeling API's shape (label by name or
id), returned with label names; [] for "no entities"; bad spans refused by field with nothing
written; the votes and the resolution in the disagreement list carry spans."""

import pytest

from consistency.review.models import Resolution
from labeling.models import ConsensusLabel
from tests.consistency.span_review_cases import span_case_make, span_ids, span_project_make

from .conftest import token_client

pytestmark = pytest.mark.django_db

DISAGREEMENTS = "/api/v1/projects/support/disagreements/"


@pytest.fixture
def case(project):
    return span_case_make(span_project_make(project))


@pytest.fixture
def sme_api(sme):
    return token_client(sme)


def resolve(api, case, body):
    return api.post(f"{DISAGREEMENTS}{case.pk}/resolve/", body, content_type="application/json")


def test_an_sme_resolves_a_span_case_with_spans_by_name_or_id(project, case, sme_api):
    ids = span_ids(project)
    response = resolve(
        sme_api,
        case,
        {
            "verdict": "label",
            "spans": [
                {"start": 36, "end": 42, "label": str(ids["PLACE"])},
                {"start": 0, "end": 12, "label": "PERSON"},
            ],
            "rationale": "A person and a place.",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["label"] is None
    assert body["spans"] == [
        {"start": 0, "end": 12, "label": "PERSON"},
        {"start": 36, "end": 42, "label": "PLACE"},
    ]
    assert ConsensusLabel.objects.get(example=case.example).spans == [
        [0, 12, ids["PERSON"]],
        [36, 42, ids["PLACE"]],
    ]
    listed = sme_api.get(DISAGREEMENTS).json()["results"][0]
    assert listed["resolution"]["spans"] == body["spans"]
    assert [vote["spans"] for vote in listed["votes"]][1] == [
        {"start": 0, "end": 12, "label": "PERSON"},
        {"start": 25, "end": 32, "label": "PERSON"},
    ]
    assert {vote["label"] for vote in listed["votes"]} == {None}


def test_no_entities_is_a_gold_answer(case, sme_api):
    response = resolve(sme_api, case, {"verdict": "label", "spans": []})
    assert response.status_code == 201
    assert response.json()["spans"] == []


@pytest.mark.parametrize(
    ("spans", "field"),
    [
        (
            [{"start": 0, "end": 12, "label": "PERSON"}, {"start": 5, "end": 20, "label": "PERSON"}],
            "spans[1]",
        ),
        ([{"start": 0, "end": 99, "label": "PERSON"}], "spans[0].end"),
        ([{"start": 0, "end": 3, "label": "billing"}], "spans[0].label"),
    ],
)
def test_bad_spans_are_refused_by_field_and_nothing_is_written(case, sme_api, spans, field):
    response = resolve(sme_api, case, {"verdict": "label", "spans": spans})
    assert response.status_code == 400
    assert field in response.json()
    assert not Resolution.objects.exists()


def test_the_shape_is_checked_before_anything_else(case, sme_api):
    bad = [
        ({"verdict": "label", "spans": [{"start": 0, "end": 3}]}, "spans[0].label"),
        ({"verdict": "label", "spans": [{"start": -1, "end": 3, "label": "PERSON"}]}, "spans[0].start"),
        ({"verdict": "label", "spans": [{"start": 0, "end": 3, "label": "PERSON", "x": 1}]}, "spans[0].x"),
        ({"verdict": "label", "spans": {"start": 0}}, "spans"),
        ({"verdict": "label", "label": "PERSON", "spans": []}, "spans"),
        ({"verdict": "label"}, "label"),
        ({"verdict": "exclude", "rationale": "Unclear.", "spans": []}, "spans"),
        ({"verdict": "label", "label": "PERSON"}, "spans"),  # a span project takes spans
    ]
    for body, field in bad:
        response = resolve(sme_api, case, body)
        assert response.status_code == 400, body
        assert field in response.json(), (body, response.json())
    assert not Resolution.objects.exists()


def test_spans_are_refused_on_a_single_label_project(api_disagreements, sme_api):
    response = resolve(sme_api, api_disagreements.open, {"verdict": "label", "spans": []})
    assert response.status_code == 400
    assert "spans" in response.json()


def test_the_schema_documents_spans(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]["schemas"]
    request = schema["ResolveWithLabelRequest"]["properties"]["spans"]
    assert request["items"]["$ref"].endswith("/SpanWriteRequest")  # the labeling API's span
    assert set(schema["SpanWriteRequest"]["required"]) == {"start", "end", "label"}
    assert "spans" in schema["Resolution"]["properties"]
    assert "spans" in schema["Vote"]["properties"]
