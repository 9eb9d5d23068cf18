"""Who may open the pages of accounts, audit and examples: one table, every role. Non-members get
404 (they cannot tell the project exists), members with the wrong role 403, anonymous visitors the
login page; a labeler opens only an example they were handed."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from labeling.services import annotations as labeling
from projects.models import Invitation
from tests.conftest import client_for
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db

M, S, L, OUT, A = "manager", "sme", "labeler", "outsider", "anonymous"
MANAGERS = {M: 200, S: 403, L: 403, OUT: 404, A: 302}
REVIEWERS = {M: 200, S: 200, L: 403, OUT: 404, A: 302}


@pytest.fixture
def world(project, manager, sme, labeler, outsider):
    mine = ExampleFactory(project=project, external_id="mine")
    other = ExampleFactory(project=project, external_id="other")
    assignment = labeling.assignment_next(project=project, user=labeler)
    labeling.annotation_submit(
        project=project,
        user=labeler,
        example_id=assignment.example_id,
        label_id=project.labels.first().pk,
        client_token=uuid.uuid4(),
    )
    handed = project.examples.get(pk=assignment.example_id)
    not_handed = other if handed == mine else mine
    invitation = Invitation.objects.create(
        project=project, email="x@example.org", role="labeler", nonce="n", expires_at="2999-01-01T00:00:00Z"
    )
    clients = {
        M: client_for(manager),
        S: client_for(sme),
        L: client_for(labeler),
        OUT: client_for(outsider),
        A: Client(),
    }
    return {"handed": handed, "not_handed": not_handed, "invitation": invitation, "clients": clients}


def cases(project, world):
    slug = project.slug
    member = project.memberships.get(user__username="labeler")
    return [
        ("GET", reverse("projects:audit_log", args=[slug]), MANAGERS),
        ("GET", reverse("consistency:examples", args=[slug]), REVIEWERS),
        ("GET", reverse("consistency:example_export", args=[slug]), REVIEWERS),
        ("GET", reverse("consistency:example", args=[slug, world["handed"].pk]), {**REVIEWERS, L: 200}),
        ("GET", reverse("consistency:example", args=[slug, world["not_handed"].pk]), {**REVIEWERS, L: 404}),
        (
            "POST",
            reverse("consistency:example_tags", args=[slug, world["handed"].pk]),
            {**REVIEWERS, M: 302, S: 302},
        ),
        ("POST", reverse("projects:invitation_send", args=[slug]), {**MANAGERS, M: 302}),
        (
            "POST",
            reverse("projects:invitation_revoke", args=[slug, world["invitation"].pk]),
            {**MANAGERS, M: 302},
        ),
        ("POST", reverse("projects:member_deactivate", args=[slug, member.pk]), {**MANAGERS, M: 302}),
    ]


def test_access_matrix(project, world):
    failures = []
    for method, url, expected in cases(project, world):
        for role in (S, L, OUT, A, M):  # the manager last: deactivating logs the labeler out
            client = world["clients"][role]
            response = client.get(url) if method == "GET" else client.post(url, {"tag": "x", "email": ""})
            if response.status_code != expected[role]:
                failures.append(
                    f"{method} {url} as {role}: {response.status_code}, expected {expected[role]}"
                )
    assert not failures, "\n".join(failures)


def test_account_pages(project, world):
    anonymous, labeler = world["clients"][A], world["clients"][L]
    assert anonymous.get(reverse("first_run")).status_code == 404  # accounts exist
    assert labeler.get(reverse("first_run")).status_code == 404
    assert anonymous.get(reverse("password_change")).status_code == 302
    assert labeler.get(reverse("password_change")).status_code == 200
    assert anonymous.get(reverse("password_reset")).status_code == 200
    assert anonymous.get("/invitations/garbage/").status_code == 400
