"""Labeling a span project through the API: `spans` ({start, end, label}, code point offsets,
labels by name or id), the task type and nesting setting in the lease, bad spans refused naming
the span and field (400, nothing stored), spans given back with label names."""

import uuid

import pytest

from labeling.models import Annotation
from projects.models import TaskType
from tests.factories import ExampleFactory, LabelFactory

from .conftest import token_client

BASE = "/api/v1/projects/support"
TEXT = "🙂 Ada Lovelace met Charles Babbage in London."


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


@pytest.fixture
def span_project(project):
    project.labels.all().delete()
    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    for position, (name, key) in enumerate([("PER", "p"), ("ORG", "o"), ("LOC", "l")]):
        LabelFactory(project=project, name=name, shortcut_key=key, position=position)
    ExampleFactory(project=project, text=TEXT)
    return project


def lease_of(api):
    return post(api, f"{BASE}/assignments/next/").json()


def test_a_labeler_submits_spans_by_label_name_and_id(span_project, raters, manager):
    api = token_client(raters[0])
    lease = lease_of(api)
    assert (lease["task_type"], lease["spans_may_nest"]) == ("spans", False)
    assert lease["example"]["text"] == TEXT
    loc = span_project.labels.get(name="LOC")
    body = {
        "assignment": lease["id"],
        "client_token": str(uuid.uuid4()),
        "spans": [{"start": 38, "end": 44, "label": str(loc.pk)}, {"start": 2, "end": 14, "label": "PER"}],
    }
    saved = post(api, f"{BASE}/annotations/", body)
    assert saved.status_code == 201, saved.json()
    assert saved.json()["spans"] == [
        {"start": 2, "end": 14, "label": "PER"},
        {"start": 38, "end": 44, "label": "LOC"},
    ]
    assert (saved.json()["label"], saved.json()["labels"]) == (None, None)
    # The same token again: the first annotation, nothing new stored.
    again = post(api, f"{BASE}/annotations/", {**body, "spans": []})
    assert again.status_code == 200
    assert len(again.json()["spans"]) == 2
    assert Annotation.objects.count() == 1
    listed = token_client(manager).get(f"{BASE}/annotations/").json()["results"]
    assert [item["spans"] for item in listed] == [saved.json()["spans"]]


def test_no_entities_is_an_empty_list(span_project, raters):
    api = token_client(raters[0])
    saved = post(api, f"{BASE}/annotations/", {"assignment": lease_of(api)["id"], "spans": []})
    assert saved.status_code == 201
    assert saved.json()["spans"] == []


@pytest.mark.parametrize(
    ("spans", "field", "words"),
    [
        ([{"start": 2, "end": 99, "label": "PER"}], "spans[0].end", "outside the text"),
        ([{"start": 5, "end": 3, "label": "PER"}], "spans[0].end", "at or before"),
        ([{"start": 2, "end": 14, "label": "bug"}], "spans[0].label", "not one of this project's labels"),
        (
            [{"start": 2, "end": 14, "label": "PER"}, {"start": 6, "end": 26, "label": "ORG"}],
            "spans[1]",
            "cross",
        ),
        (
            [{"start": 2, "end": 14, "label": "PER"}, {"start": 6, "end": 14, "label": "PER"}],
            "spans[1]",
            "nest",
        ),
        (
            [{"start": 2, "end": 14, "label": "PER"}, {"start": "6", "end": 14, "label": "PER"}],
            "spans[1].start",
            "",
        ),
        ([{"start": -1, "end": 14, "label": "PER"}], "spans[0].start", ""),
        ([{"start": 2, "end": 14}], "spans[0].label", "required"),
        ([{"start": 2, "end": 14, "label": "PER", "colour": "red"}], "spans[0].colour", "Unknown"),
        (["2 14 PER"], "spans[0]", ""),
        ("2 14 PER", "spans", "list"),
    ],
)
def test_bad_spans_are_refused_naming_the_span_and_field(span_project, raters, spans, field, words):
    api = token_client(raters[0])
    response = post(api, f"{BASE}/annotations/", {"assignment": lease_of(api)["id"], "spans": spans})
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert words in str(response.json()[field])
    assert not Annotation.objects.exists()


def test_a_span_may_say_its_text_which_must_match_the_offsets(span_project, raters):
    """A script that counted UTF-16 units (the emoji as two) names the text it meant: refused by
    span and field, nothing stored; the right offsets with the same text are stored."""
    api = token_client(raters[0])
    lease = lease_of(api)["id"]
    wrong = {"start": 3, "end": 15, "label": "PER", "text": "Ada Lovelace"}
    response = post(api, f"{BASE}/annotations/", {"assignment": lease, "spans": [wrong]})
    assert response.status_code == 400
    assert "is not the text at" in str(response.json()["spans[0].text"])
    assert not Annotation.objects.exists()
    right = {**wrong, "start": 2, "end": 14}
    saved = post(api, f"{BASE}/annotations/", {"assignment": lease, "spans": [right]})
    assert saved.status_code == 201, saved.json()
    assert saved.json()["spans"] == [{"start": 2, "end": 14, "label": "PER"}]


def test_the_other_shapes_are_refused_by_name(span_project, project, raters):
    api = token_client(raters[0])
    lease = lease_of(api)
    for extra, field in (
        ({"label": "PER"}, "label"),
        ({"labels": ["PER"]}, "labels"),
        ({"label": "PER", "spans": []}, "label"),
    ):
        response = post(api, f"{BASE}/annotations/", {"assignment": lease["id"], **extra})
        assert response.status_code == 400, extra
        assert field in response.json(), (extra, response.json())
    assert not Annotation.objects.exists()


def test_spans_on_a_single_label_project_are_refused(project, raters):
    ExampleFactory(project=project)
    api = token_client(raters[0])
    response = post(api, f"{BASE}/annotations/", {"assignment": lease_of(api)["id"], "spans": []})
    assert response.status_code == 400
    assert "spans" in response.json()
    assert not Annotation.objects.exists()


def test_a_span_project_is_created_and_its_nesting_fixed_once_annotated(span_project, raters, manager):
    api = token_client(manager)
    created = post(
        api,
        "/api/v1/projects/",
        {"name": "People", "slug": "people", "task_type": "spans", "spans_may_nest": True},
    )
    assert created.status_code == 201, created.json()
    assert (created.json()["task_type"], created.json()["spans_may_nest"]) == ("spans", True)
    changed = api.patch(f"{BASE}/", {"spans_may_nest": True}, content_type="application/json")
    assert changed.status_code == 200
    labeler = token_client(raters[0])
    lease = lease_of(labeler)
    assert lease["spans_may_nest"] is True
    nested = [{"start": 2, "end": 14, "label": "PER"}, {"start": 6, "end": 14, "label": "PER"}]
    assert (
        post(labeler, f"{BASE}/annotations/", {"assignment": lease["id"], "spans": nested}).status_code == 201
    )
    refused = api.patch(f"{BASE}/", {"spans_may_nest": False}, content_type="application/json")
    assert refused.status_code == 409
    assert "nest" in refused.json()["detail"]


def test_the_schema_documents_spans(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    submit = components["AnnotationSubmitRequest"]["properties"]["spans"]
    item = submit["items"]
    if "$ref" in item:
        item = components[item["$ref"].rsplit("/", 1)[1]]
    assert set(item["properties"]) == {"start", "end", "label", "text"}
    assert set(item["required"]) == {"start", "end", "label"}
    assert "spans" in components["Annotation"]["properties"]
    assert "spans_may_nest" in components["Assignment"]["properties"]
