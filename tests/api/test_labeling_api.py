"""Labeling through the API follows the labeling page's rules: one lease at a time (the same one
again while it lives), overlap k, blind labelers, the guideline version stamped, idempotent
submits by client token, 409 for a lease that is lost or someone else's, skip and undo."""

import uuid
from datetime import timedelta

from labeling.models import Annotation
from projects.models import Example
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, leases_run_out

from .conftest import token_client

BASE = "/api/v1/projects/support"


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def submit(client, lease_id, label="bug", **extra):
    return post(client, f"{BASE}/annotations/", {"assignment": lease_id, "label": label, **extra})


def test_a_labeler_gets_one_lease_at_a_time_and_sees_no_one_elses_work(project, raters, manager):
    project.visible_metadata = ["channel"]
    project.save()
    GuidelineVersionFactory(project=project, number=4)
    example = ExampleFactory(project=project, metadata={"channel": "email", "customer": "ACME"})
    first = AnnotationFactory(example=example, rater=raters[1], label=project.labels.get(name="billing"))
    Example.objects.filter(pk=example.pk).update(annotation_count=1)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/")
    assert lease.status_code == 200
    body = lease.json()
    assert body["example"] == {
        "id": example.pk,
        "external_id": example.external_id,
        "text": example.text,
        "metadata": {"channel": "email"},  # only what the project shows labelers
        "media": None,  # a text
    }
    assert body["guideline_version"] == 4
    assert "billing" not in lease.content.decode()
    assert post(api, f"{BASE}/assignments/next/").json() == body
    saved = submit(api, body["id"], label=str(project.labels.get(name="bug").pk))  # a label by id
    assert saved.status_code == 201
    assert (saved.json()["label"], saved.json()["guideline_version"]) == ("bug", 4)
    assert post(api, f"{BASE}/assignments/next/").status_code == 204
    mine = api.get(f"{BASE}/annotations/").json()["results"]
    assert [item["id"] for item in mine] == [saved.json()["id"]]
    assert first.pk not in {item["id"] for item in mine}
    assert post(token_client(manager), f"{BASE}/assignments/next/").status_code == 403


def test_no_example_gets_more_than_k_raters(project, make_labelers):
    project.overlap = 2
    project.save()
    ExampleFactory(project=project)
    labelers = make_labelers(3)
    answers = [post(token_client(user), f"{BASE}/assignments/next/").status_code for user in labelers]
    assert answers == [200, 200, 204]


def test_a_replayed_submit_returns_the_same_annotation_and_stores_nothing(project, raters):
    ExampleFactory(project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    token = str(uuid.uuid4())
    first = submit(api, lease["id"], client_token=token, note="Looks like a crash.")
    again = submit(api, lease["id"], client_token=token, note="Looks like a crash.")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Annotation.objects.count() == 1
    other_token = submit(api, lease["id"], client_token=str(uuid.uuid4()))
    assert other_token.status_code == 409
    assert other_token.json()["detail"] == "You have already labeled this example."
    assert Annotation.objects.count() == 1


def test_bad_submits_name_the_field_and_store_nothing(project, raters, other_project):
    ExampleFactory(project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    other_label = other_project.labels.first()
    cases = [
        ({"label": "no-such-label"}, "label"),
        ({"label": str(other_label.pk)}, "label"),  # another project's label id
        ({"assignment": 987654}, "assignment"),
        ({"client_token": "not-a-uuid"}, "client_token"),
        ({"time_spent_ms": -1}, "time_spent_ms"),
        ({"rater": "someone"}, "rater"),
    ]
    for change, field in cases:
        response = post(api, f"{BASE}/annotations/", {"assignment": lease["id"], "label": "bug", **change})
        assert response.status_code == 400, change
        assert field in response.json(), (change, response.json())
    assert not Annotation.objects.exists()


def test_someone_elses_lease_and_a_lost_lease_are_409s_with_a_message(project, make_labelers):
    project.overlap = 1
    project.save()
    example = ExampleFactory(project=project)
    first, second = make_labelers(2)
    lease = post(token_client(first), f"{BASE}/assignments/next/").json()
    foreign = submit(token_client(second), lease["id"])
    assert foreign.status_code == 409
    assert "another labeler's" in foreign.json()["detail"]
    # The lease runs out, the seat goes to someone else, who labels the example: k is reached.
    leases_run_out([lease["id"]], ago=timedelta(minutes=1))
    taken = post(token_client(second), f"{BASE}/assignments/next/").json()
    assert taken["example"]["id"] == example.pk
    assert submit(token_client(second), taken["id"]).status_code == 201
    lost = submit(token_client(first), lease["id"])
    assert lost.status_code == 409
    assert "ran out" in lost.json()["detail"]
    assert Annotation.objects.filter(example=example).count() == 1


def test_skip_gives_the_example_back_for_good_and_undo_takes_a_label_back(project, raters):
    kept, skipped = ExampleFactory(project=project), ExampleFactory(project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    no_reason = post(api, f"{BASE}/assignments/{lease['id']}/skip/", {"reason": "  "})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()
    assert post(api, f"{BASE}/assignments/987654/skip/", {"reason": "Not English."}).status_code == 404
    assert post(api, f"{BASE}/assignments/{lease['id']}/skip/", {"reason": "Not English."}).status_code == 204
    skipped_id = lease["example"]["id"]
    lease = post(api, f"{BASE}/assignments/next/").json()
    assert lease["example"]["id"] != skipped_id
    assert {skipped_id, lease["example"]["id"]} == {kept.pk, skipped.pk}
    assert submit(api, lease["id"]).status_code == 201
    assert post(api, f"{BASE}/assignments/next/").status_code == 204
    undone = post(api, f"{BASE}/annotations/undo/")
    assert undone.status_code == 200
    assert undone.json()["example"]["id"] == lease["example"]["id"]
    assert not Annotation.objects.exists()
    assert submit(api, undone.json()["id"], label="feature").status_code == 201
    assert submit(api, undone.json()["id"], label="feature").status_code == 409
    assert post(api, f"{BASE}/annotations/undo/").status_code == 200
    assert post(api, f"{BASE}/annotations/undo/").status_code == 409


def test_the_submit_reads_its_assignment_and_the_labels_in_one_statement(project, labeler, other_project):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from labeling.api.selectors import assignment_get_api
    from labeling.selectors import labels_for_labeling
    from projects.selectors import membership_get

    ExampleFactory(project=project)
    lease = post(token_client(labeler), f"{BASE}/assignments/next/").json()
    scoped = membership_get(user=labeler, slug=project.slug).project  # carries the request's memo
    with CaptureQueriesContext(connection) as queries:
        found = assignment_get_api(project=scoped, assignment_id=lease["id"], with_labels=True)
        labels = labels_for_labeling(project=scoped)
    assert len(queries.captured_queries) == 1
    assert (found.pk, found.rater_id, found.example_id) == (lease["id"], labeler.pk, lease["example"]["id"])
    assert [label.name for label in labels] == ["billing", "bug", "feature", "other"]  # button order
    # No such assignment: None, the labels read all the same; another project's: not found.
    assert assignment_get_api(project=scoped, assignment_id=10**9, with_labels=True) is None
    assert assignment_get_api(project=other_project, assignment_id=lease["id"], with_labels=True) is None
    other_project.labels.all().delete()  # no label rows to carry it: read on its own
    assert assignment_get_api(project=other_project, assignment_id=lease["id"], with_labels=True) is None


def test_a_submit_can_bring_the_next_lease_so_a_label_costs_one_request(project, raters):
    from labeling.models import Assignment

    examples = {ExampleFactory(project=project).pk for _ in range(3)}
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    token = str(uuid.uuid4())
    saved = submit(api, lease["id"], client_token=token, next=True)
    assert saved.status_code == 201
    body = saved.json()
    following = body.pop("next")
    # The annotation as a plain submit shows it, and the lease that assignments/next/ now gives.
    assert body["example"] == lease["example"]["id"]
    assert body["label"] == "bug"
    assert following["example"]["id"] in examples - {lease["example"]["id"]}
    assert post(api, f"{BASE}/assignments/next/").json() == following
    # A replay stores nothing and claims nothing: the same annotation, the lease held now.
    again = submit(api, lease["id"], client_token=token, next=True)
    assert again.status_code == 200
    assert again.json() == {**body, "next": following}
    assert Assignment.objects.filter(rater=raters[0], status="leased").count() == 1
    # Labeling on from each answer's lease until nothing is left: null, as next's 204.
    labeled = [body["example"]]
    while following is not None:
        answer = submit(api, following["id"], label="feature", next=True)
        assert answer.status_code == 201
        labeled.append(answer.json()["example"])
        following = answer.json()["next"]
    assert sorted(labeled) == sorted(examples)
    assert Annotation.objects.filter(rater=raters[0]).count() == 3
    assert "next" not in submit(api, lease["id"], client_token=token).json()  # only when asked


def test_next_in_a_submit_must_be_a_boolean(project, raters):
    ExampleFactory(project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()
    for value in ("yes", 1, None):
        response = submit(api, lease["id"], next=value)
        assert response.status_code == 400, value
        assert "next" in response.json(), response.json()
    assert not Annotation.objects.exists()


def test_a_saved_label_stands_when_no_next_lease_can_be_held(project, raters, monkeypatch):
    from core.errors import ApplicationError
    from labeling.api import views

    ExampleFactory(project=project)
    ExampleFactory(project=project)
    api = token_client(raters[0])
    lease = post(api, f"{BASE}/assignments/next/").json()

    def lost_races(**kwargs):
        raise ApplicationError("Could not reserve an example just now; please try again.")

    monkeypatch.setattr(views.services, "lease_queue", lost_races)
    saved = submit(api, lease["id"], next=True)
    assert saved.status_code == 201
    assert saved.json()["next"] is None
    assert Annotation.objects.filter(rater=raters[0]).count() == 1
