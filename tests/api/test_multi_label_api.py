"""Labeling a multi-label project through the API: `labels` (names or ids) instead of `label`,
the task type in the lease, the wrong shape or a bad label refused by name (400), safe retries."""

import uuid

from labeling.models import Annotation
from tests.factories import ExampleFactory

from .conftest import token_client

BASE = "/api/v1/projects/support"


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def test_a_labeler_submits_a_label_set_by_names_and_ids(multi_project, raters, manager):
    project = multi_project
    ExampleFactory.create_batch(2, project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    assert (lease["task_type"], lease["allow_empty_label_set"]) == ("multi", False)
    bug = project.labels.get(name="bug")
    token = str(uuid.uuid4())
    body = {"assignment": lease["id"], "labels": ["other", str(bug.pk)], "client_token": token}
    saved = post(api, f"{BASE}/annotations/", body)
    assert saved.status_code == 201
    assert saved.json()["labels"] == ["bug", "other"]
    assert saved.json()["label"] is None
    stored = Annotation.objects.get(pk=saved.json()["id"])
    assert stored.labels == sorted([bug.pk, project.labels.get(name="other").pk])
    # The same token again: the first annotation, nothing new stored.
    again = post(api, f"{BASE}/annotations/", {**body, "labels": ["billing"]})
    assert again.status_code == 200
    assert again.json()["labels"] == ["bug", "other"]
    assert Annotation.objects.count() == 1
    listed = token_client(manager).get(f"{BASE}/annotations/").json()["results"]
    assert [(item["label"], item["labels"]) for item in listed] == [(None, ["bug", "other"])]


def test_bad_label_sets_are_refused_naming_the_field(multi_project, raters):
    project = multi_project
    ExampleFactory(project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    cases = [
        ({"labels": ["bug", "no-such-label"]}, "labels", "Item 2"),
        ({"labels": ["bug", "bug"]}, "labels", "given twice ('bug')"),
        ({"labels": []}, "labels", "none of these"),
        ({"label": "bug"}, "label", "multi-label"),
        ({"label": "bug", "labels": ["bug"]}, "label", "not both"),
        ({"labels": "bug"}, "labels", ""),
    ]
    for extra, field, words in cases:
        response = post(api, f"{BASE}/annotations/", {"assignment": lease["id"], **extra})
        assert response.status_code == 400, extra
        assert words in str(response.json()[field]), (extra, response.json())
    assert not Annotation.objects.exists()

    project.allow_empty_label_set = True
    project.save()
    saved = post(api, f"{BASE}/annotations/", {"assignment": lease["id"], "labels": []})
    assert saved.status_code == 201
    assert saved.json()["labels"] == []


def test_a_label_set_on_a_single_label_project_is_refused(project, raters):
    ExampleFactory(project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    assert lease["task_type"] == "single"
    response = post(api, f"{BASE}/annotations/", {"assignment": lease["id"], "labels": ["bug"]})
    assert response.status_code == 400
    assert "one label per example" in str(response.json()["labels"])
    assert not Annotation.objects.exists()


def test_the_task_type_is_set_at_creation_and_fixed_once_annotated(multi_project, raters, manager):
    api = token_client(manager)
    created = post(
        api,
        "/api/v1/projects/",
        {"name": "Tickets", "slug": "tickets", "task_type": "multi", "allow_empty_label_set": True},
    )
    assert created.status_code == 201
    assert (created.json()["task_type"], created.json()["allow_empty_label_set"]) == ("multi", True)
    ExampleFactory(project=multi_project)
    labeler = token_client(raters[0])
    lease = post(labeler, f"{BASE}/assignments/next/").json()
    assert (
        post(labeler, f"{BASE}/annotations/", {"assignment": lease["id"], "labels": ["bug"]}).status_code
        == 201
    )
    refused = api.patch(f"{BASE}/", {"task_type": "single"}, content_type="application/json")
    assert refused.status_code == 409
    assert "annotations" in refused.json()["detail"]
