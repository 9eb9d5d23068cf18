"""The write endpoints: projects, settings, labels, members, the guideline, relabeling and
releases, with the pages' rules; bad input is a 400 naming the field and writes nothing."""

import re

import pytest
from django.core import mail
from django.test import Client

from consistency.review.models import RelabelRequest
from labeling.models import Annotation
from projects.models import GuidelineDraft, ImportBatch, Label, Membership, Project, Role
from projects.services.projects import ADD_MEMBER_NEEDS_INVITATION
from tests.factories import UserFactory

from .conftest import token_client

BASE = "/api/v1/projects/support"


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def patch(client, url, body):
    return client.patch(url, body, content_type="application/json")


NEW = {"name": "Reviews", "slug": "reviews", "overlap": 2, "labels": [{"name": "good"}, {"name": "bad"}]}


def test_creating_a_project_makes_the_caller_its_manager_with_its_labels(project, manager):
    response = post(token_client(manager), "/api/v1/projects/", NEW)
    assert response.status_code == 201
    created = Project.objects.get(slug="reviews")
    assert created.overlap == 2
    assert Membership.objects.get(project=created).user == manager
    assert Membership.objects.get(project=created).role == Role.MANAGER
    assert [(label.name, label.shortcut_key) for label in created.labels.order_by("position")] == [
        ("good", "1"),
        ("bad", "2"),
    ]
    assert GuidelineDraft.objects.filter(project=created).exists()


def test_who_may_create_projects_follows_the_setting(project, labeler, settings):
    assert post(token_client(labeler), "/api/v1/projects/", NEW).status_code == 403
    assert not Project.objects.filter(slug="reviews").exists()
    settings.CONCORD_PROJECT_CREATORS = "everyone"
    assert post(token_client(labeler), "/api/v1/projects/", NEW).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "support"}, "slug"),  # taken
        ({"slug": "releases"}, "slug"),  # reserved
        ({"slug": "Not A Slug"}, "slug"),
        ({"overlap": 0}, "overlap"),
        ({"overlap": 26}, "overlap"),
        ({"name": "   "}, "name"),
        ({"colour": "#000000"}, "colour"),  # unknown fields are refused by name
        ({"labels": [{"name": "same"}, {"name": "SAME"}]}, "labels"),
        ({"labels": [{"name": "x", "key": "a"}]}, "labels"),  # a is the page's "ambiguous" key
        ({"labels": [{"name": "x", "shortcut_key": "1"}]}, "labels"),
    ],
)
def test_bad_project_input_names_the_field_and_writes_nothing(project, manager, change, field):
    before = (Project.objects.count(), Label.objects.count(), Membership.objects.count())
    response = post(token_client(manager), "/api/v1/projects/", {**NEW, **change})
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert (Project.objects.count(), Label.objects.count(), Membership.objects.count()) == before


def test_settings_changes_that_touch_the_review_rules_re_decide_the_examples(api_data, manager, labeler):
    project = api_data.project
    api = token_client(manager)
    quiet = patch(api, f"{BASE}/", {"lease_minutes": 45, "visible_metadata": ["channel"]})
    assert quiet.status_code == 200
    assert quiet.json()["lease_minutes"] == 45
    assert quiet.json()["decisions_job"] is None
    ruled = patch(api, f"{BASE}/", {"overlap": 2, "majority_threshold": 0.75})
    assert ruled.status_code == 200
    assert ruled.json()["decisions_job"]["kind"] == "decisions"
    assert ImportBatch.objects.filter(project=project, kind=ImportBatch.Kind.DECISIONS).count() == 1
    project.refresh_from_db()
    assert (project.overlap, project.majority_threshold, project.visible_metadata) == (2, 0.75, ["channel"])
    assert patch(token_client(labeler), f"{BASE}/", {"overlap": 1}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"overlap": 26}, "overlap"),
        ({"overlap": "2"}, "overlap"),
        ({"lease_minutes": 0}, "lease_minutes"),
        ({"majority_threshold": 0.5}, "majority_threshold"),
        ({"slug": "moved"}, "slug"),
        ({"overlap": 2, "colour": "red"}, "colour"),
    ],
)
def test_bad_settings_name_the_field_and_change_nothing(project, manager, body, field):
    response = patch(token_client(manager), f"{BASE}/", body)
    assert response.status_code == 400
    assert field in response.json()
    project.refresh_from_db()
    assert (project.overlap, project.slug, project.lease_minutes) == (3, "support", 30)


def test_labels_are_added_changed_and_deleted_as_on_the_settings_page(api_data, manager):
    api = token_client(manager)
    added = post(api, f"{BASE}/labels/", {"name": "question", "description": "Asks something."})
    assert added.status_code == 201
    assert added.json()["shortcut_key"] == "5"  # 1-4 are taken
    label_id = added.json()["id"]
    changed = patch(api, f"{BASE}/labels/{label_id}/", {"name": "how-to", "color": "#112233", "key": "h"})
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["colour"], changed.json()["shortcut_key"]) == (
        "how-to",
        "#112233",
        "h",
    )
    assert post(api, f"{BASE}/labels/", {"name": "HOW-TO"}).json()["name"] == [
        "There is already a label named 'HOW-TO'."
    ]
    clash = patch(api, f"{BASE}/labels/{label_id}/", {"key": "1"})
    assert clash.status_code == 400
    assert clash.json()["key"] == ["The key '1' is already the shortcut of another label."]
    used = api_data.project.labels.get(name="billing")
    refused = api.delete(f"{BASE}/labels/{used.pk}/")
    assert refused.status_code == 409
    assert "rename it instead" in refused.json()["detail"]
    assert api.delete(f"{BASE}/labels/{label_id}/").status_code == 204
    assert not Label.objects.filter(pk=label_id).exists()
    other_label = api_data.other_project.labels.first()
    assert api.delete(f"{BASE}/labels/{other_label.pk}/").status_code == 404
    assert Label.objects.filter(pk=other_label.pk).exists()


def test_not_even_staff_add_a_person_without_an_invitation_and_a_bad_role_is_a_400(project, manager):
    staff = UserFactory(username="admin", is_staff=True, is_superuser=True)
    Membership.objects.create(user=staff, project=project, role=Role.MANAGER)
    UserFactory(username="newcomer")
    api = token_client(staff)
    answers = [
        post(api, f"{BASE}/members/", {"username": name, "role": "labeler"})
        for name in ("newcomer", "nobody")
    ]
    assert [answer.status_code for answer in answers] == [403, 403]
    assert answers[0].json() == answers[1].json() == {"detail": ADD_MEMBER_NEEDS_INVITATION}
    assert not project.memberships.filter(user__username="newcomer").exists()
    bad_role = post(api, f"{BASE}/members/", {"username": "manager", "role": "owner"})
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()


def _token(message) -> str:
    return re.search(r"/invitations/([^/\s]+)/", message.body).group(1)


def test_invitations_through_the_api_are_mailed_listed_and_accepted_once(project, manager, labeler):
    newcomer = UserFactory(username="newcomer", email="new@example.org")
    api = token_client(manager)
    invited = post(api, f"{BASE}/invitations/", {"email": "new@example.org", "role": "sme"})
    assert invited.status_code == 201
    assert invited.json()["email"] == "new@example.org"
    assert invited.json()["invited_by"] == "manager"
    assert [row["email"] for row in api.get(f"{BASE}/invitations/").json()] == ["new@example.org"]
    token = _token(mail.outbox[-1])
    wrong_person = post(token_client(labeler), "/api/v1/invitations/accept/", {"token": token})
    assert wrong_person.status_code == 400
    assert "belongs to another account" in wrong_person.json()["detail"]
    tampered = post(token_client(newcomer), "/api/v1/invitations/accept/", {"token": token[:-2] + "xx"})
    assert tampered.status_code == 400
    joined = post(token_client(newcomer), "/api/v1/invitations/accept/", {"token": token})
    assert joined.status_code == 201
    assert project.memberships.get(user=newcomer).role == Role.SME
    again = post(token_client(newcomer), "/api/v1/invitations/accept/", {"token": token})
    assert again.status_code == 400
    assert "already been used" in again.json()["detail"]
    assert api.get(f"{BASE}/invitations/").json() == []


def test_invitations_refuse_bad_input_by_field_and_other_roles(project, manager, sme, labeler, outsider):
    before = len(mail.outbox)
    api = token_client(manager)
    bad_email = post(api, f"{BASE}/invitations/", {"email": "not-an-address", "role": "labeler"})
    assert bad_email.status_code == 400
    assert "email" in bad_email.json()
    bad_role = post(api, f"{BASE}/invitations/", {"email": "a@example.org", "role": "owner"})
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()
    unknown = post(api, f"{BASE}/invitations/", {"email": "a@example.org", "role": "sme", "name": "x"})
    assert unknown.status_code == 400
    assert "name" in unknown.json()
    body = {"email": "a@example.org", "role": "sme"}
    assert post(token_client(sme), f"{BASE}/invitations/", body).status_code == 403
    assert post(token_client(labeler), f"{BASE}/invitations/", body).status_code == 403
    assert post(token_client(outsider), f"{BASE}/invitations/", body).status_code == 404
    assert post(Client(), "/api/v1/invitations/accept/", {"token": "x"}).status_code in (401, 403)
    assert len(mail.outbox) == before
    assert not project.invitations.exists()


def test_managers_who_are_not_staff_change_roles_but_cannot_add_anyone(project, manager, labeler):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    api = token_client(manager)
    answers = [
        post(api, f"{BASE}/members/", {"username": name, "role": "manager"}) for name in ("root", "ghost")
    ]
    assert [answer.status_code for answer in answers] == [403, 403]
    assert answers[0].json() == answers[1].json() == {"detail": ADD_MEMBER_NEEDS_INVITATION}
    changed = post(api, f"{BASE}/members/", {"username": "labeler", "role": "sme"})
    assert changed.status_code == 200
    assert project.memberships.get(user=labeler).role == Role.SME


def test_memberships_are_changed_and_removed_but_the_last_manager_stays(project, manager, labeler):
    api = token_client(manager)
    mine = project.memberships.get(user=manager)
    theirs = project.memberships.get(user=labeler)
    assert patch(api, f"{BASE}/members/{theirs.pk}/", {"role": "sme"}).json()["role"] == "sme"
    demoted = patch(api, f"{BASE}/members/{mine.pk}/", {"role": "labeler"})
    assert demoted.status_code == 400
    assert "at least one manager" in demoted.json()["role"][0]
    assert api.delete(f"{BASE}/members/{mine.pk}/").status_code == 400
    assert api.delete(f"{BASE}/members/{theirs.pk}/").status_code == 204
    assert list(project.memberships.values_list("user__username", flat=True)) == ["manager"]


def test_the_guideline_draft_is_edited_by_reviewers_and_published_by_managers(project, manager, sme, labeler):
    by_sme = token_client(sme).put(
        f"{BASE}/guideline/draft/", {"body": "# Rules"}, content_type="application/json"
    )
    assert by_sme.status_code == 200
    assert by_sme.json()["updated_by"] == "sme"
    assert token_client(labeler).get(f"{BASE}/guideline/draft/").status_code == 403
    assert post(token_client(sme), f"{BASE}/guideline-versions/", {"changelog": "First."}).status_code == 403
    api = token_client(manager)
    for body in ({"changelog": ""}, {"changelog": "   "}, {}):
        empty = post(api, f"{BASE}/guideline-versions/", body)
        assert empty.status_code == 400
        assert "changelog" in empty.json()
    assert not project.guideline_versions.exists()
    published = post(api, f"{BASE}/guideline-versions/", {"changelog": "First."})
    assert published.status_code == 201
    assert (published.json()["number"], published.json()["body"], published.json()["author"]) == (
        1,
        "# Rules",
        "manager",
    )
    again = post(api, f"{BASE}/guideline-versions/", {"changelog": "Nothing new."})
    assert again.status_code == 409
    assert project.guideline_versions.count() == 1


def test_relabeling_is_requested_with_the_pages_scopes(api_data, manager, sme):
    api = token_client(manager)
    assert post(token_client(sme), f"{BASE}/relabel/", {"scope": "older"}).status_code == 403
    sample = post(api, f"{BASE}/relabel/", {"scope": "sample"})
    assert sample.status_code == 400
    assert "n" in sample.json()
    assert post(api, f"{BASE}/relabel/", {"scope": "everything"}).status_code == 400
    assert not RelabelRequest.objects.exists()
    api_data.project.guideline_versions.create(number=2, body="Two.", changelog="Two.")
    sent = post(api, f"{BASE}/relabel/", {"scope": "older"})
    assert sent.status_code == 201
    assert sent.json() == {"scope": "older", "examples": len(api_data.examples)}
    assert (
        Annotation.objects.filter(example__project=api_data.project, superseded_at__isnull=True).count() == 0
    )


def test_cutting_a_release_answers_202_with_the_url_to_poll(
    api_data, manager, django_capture_on_commit_callbacks
):
    api = token_client(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, f"{BASE}/releases/", {"tag": "v9"})
    assert response.status_code == 202
    assert response.json()["url"] == "http://testserver/api/v1/projects/support/releases/v9/"
    assert response["Location"] == response.json()["url"]
    assert api.get(response.json()["url"]).json()["status"] == "ready"
