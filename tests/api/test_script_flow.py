"""A script does through the API what people do in the pages: a lead creates a project with its
labels, invites members (each accepts the link mailed to them), publishes a guideline and imports
examples; three labelers then loop next/submit until the API says nothing is left (204). Every
example ends with exactly k annotations, a replayed submit stores nothing, and an outsider finds
none of it."""

import re
import uuid
import zlib

from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Annotation, Assignment
from projects.models import Example, Project, Role
from tests.factories import UserFactory

from .conftest import token_client

OVERLAP = 2
N_EXAMPLES = 12


def _label_for(external_id: str, labeler: str) -> str:
    """A stable, made-up judgement, so the raters sometimes disagree."""
    return ("bug", "billing", "feature")[zlib.crc32(f"{external_id}/{labeler}".encode()) % 3]


def test_a_script_sets_up_a_project_and_three_labelers_label_it_through_the_api(
    db, django_capture_on_commit_callbacks
):
    lead = UserFactory(username="lead", is_staff=True)  # may create projects (CONCORD_PROJECT_CREATORS)
    labelers = [UserFactory(username=f"script-rater{i}", email=f"rater{i}@example.org") for i in range(3)]
    outsider = UserFactory(username="stranger")
    api = token_client(lead)

    created = api.post(
        "/api/v1/projects/",
        {
            "name": "Tickets",
            "slug": "tickets",
            "overlap": OVERLAP,
            "labels": [
                {"name": "bug", "description": "Something is broken."},
                {"name": "billing", "key": "b", "color": "#aa3300"},
            ],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created["Location"].endswith("/api/v1/projects/tickets/")
    assert [(label["name"], label["shortcut_key"]) for label in created.json()["labels"]] == [
        ("bug", "1"),
        ("billing", "b"),
    ]
    base = "/api/v1/projects/tickets"
    assert (
        api.post(f"{base}/labels/", {"name": "feature"}, content_type="application/json").status_code == 201
    )
    for user in labelers:
        invited = api.post(
            f"{base}/invitations/", {"email": user.email, "role": "labeler"}, content_type="application/json"
        )
        assert invited.status_code == 201, invited.content
        assert mail.outbox[-1].to == [user.email]
        token = re.search(r"/invitations/([^/\s]+)/", mail.outbox[-1].body).group(1)
        joined = token_client(user).post(
            "/api/v1/invitations/accept/", {"token": token}, content_type="application/json"
        )
        assert joined.status_code == 201, joined.content
        assert joined.json() == {"project": "tickets", "username": user.username, "role": "labeler"}
    members = api.get(f"{base}/members/").json()["results"]
    assert sorted((m["username"], m["role"]) for m in members) == [
        ("lead", "manager"),
        *[(user.username, "labeler") for user in labelers],
    ]
    draft = {"body": "# Tickets\n\nbug: the product misbehaves."}
    assert api.put(f"{base}/guideline/draft/", draft, content_type="application/json").status_code == 200
    published = api.post(
        f"{base}/guideline-versions/", {"changelog": "First."}, content_type="application/json"
    )
    assert published.status_code == 201
    assert published.json()["number"] == 1

    rows = "".join(f"t{n},Ticket number {n}\n" for n in range(N_EXAMPLES)).encode()
    with django_capture_on_commit_callbacks(execute=True):
        queued = api.post(
            f"{base}/examples/import/", {"file": SimpleUploadedFile("tickets.csv", b"id,text\n" + rows)}
        )
    assert queued.status_code == 202
    assert api.get(queued.json()["url"]).json()["status"] == "succeeded"

    clients = {user.username: token_client(user) for user in labelers}
    done: set[str] = set()
    first_submit = None
    while len(done) < len(clients):
        for username, client in clients.items():
            if username in done:
                continue
            lease = client.post(f"{base}/assignments/next/")
            if lease.status_code == 204:
                done.add(username)
                continue
            assert lease.status_code == 200, lease.content
            body = lease.json()
            assert body["guideline_version"] == 1
            assert set(body["example"]) == {"id", "external_id", "text", "metadata", "media"}  # no counts
            again = client.post(f"{base}/assignments/next/")
            assert again.json()["id"] == body["id"]  # the same lease while it is live
            submit = {
                "assignment": body["id"],
                "label": _label_for(body["example"]["external_id"], username),
                "client_token": str(uuid.uuid4()),
                "time_spent_ms": 1200,
            }
            saved = client.post(f"{base}/annotations/", submit, content_type="application/json")
            assert saved.status_code == 201, saved.content
            assert saved.json()["guideline_version"] == 1
            first_submit = first_submit or (client, submit, saved.json())

    project = Project.objects.get(slug="tickets")
    counts = Example.objects.filter(project=project).values_list("external_id", "annotation_count")
    assert len(counts) == N_EXAMPLES
    assert {count for _, count in counts} == {OVERLAP}
    annotations = Annotation.objects.filter(example__project=project)
    assert annotations.count() == OVERLAP * N_EXAMPLES
    for external_id, _ in counts:
        raters = annotations.filter(example__external_id=external_id).values_list("rater_id", flat=True)
        assert len(set(raters)) == OVERLAP
    assert set(annotations.values_list("guideline_version__number", flat=True)) == {1}
    assert not Assignment.objects.filter(project=project, status=Assignment.Status.LEASED).exists()

    client, submit, first = first_submit
    replay = client.post(f"{base}/annotations/", submit, content_type="application/json")
    assert replay.status_code == 200
    assert replay.json() == first
    assert annotations.count() == OVERLAP * N_EXAMPLES

    mine = client.get(f"{base}/annotations/").json()["results"]
    assert {item["rater"] for item in mine} == {first["rater"]}

    stranger = token_client(outsider)
    example_id = Example.objects.filter(project=project).first().pk
    label_id = project.labels.first().pk
    membership_id = project.memberships.get(role=Role.LABELER, user=labelers[0]).pk
    assignment_id = Assignment.objects.filter(project=project).first().pk
    calls = [
        ("get", ""),
        ("patch", ""),
        ("get", "labels/"),
        ("post", "labels/"),
        ("patch", f"labels/{label_id}/"),
        ("delete", f"labels/{label_id}/"),
        ("get", "members/"),
        ("post", "members/"),
        ("patch", f"members/{membership_id}/"),
        ("delete", f"members/{membership_id}/"),
        ("get", "guideline/draft/"),
        ("put", "guideline/draft/"),
        ("get", "guideline-versions/"),
        ("post", "guideline-versions/"),
        ("get", "examples/"),
        ("get", f"examples/{example_id}/"),
        ("get", "annotations/"),
        ("post", "annotations/"),
        ("post", "annotations/undo/"),
        ("post", "assignments/next/"),
        ("post", f"assignments/{assignment_id}/skip/"),
        ("post", "relabel/"),
        ("get", "releases/"),
        ("post", "releases/"),
    ]
    for method, path in calls:
        response = getattr(stranger, method)(f"{base}/{path}", {}, content_type="application/json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert "tickets" not in response.content.decode().lower()
    assert annotations.count() == OVERLAP * N_EXAMPLES
    assert project.labels.count() == 3
    assert project.memberships.count() == 4
    assert [p["slug"] for p in stranger.get("/api/v1/projects/").json()["results"]] == []
