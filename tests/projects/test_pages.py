"""Project pages: who may open what, and the managers' settings forms."""

import pytest
from django.urls import reverse

from projects.models import Label, Membership, Role

pytestmark = pytest.mark.django_db

MANAGER_ONLY = ["projects:settings", "projects:import", "projects:guideline_publish"]
REVIEWER_ONLY = ["projects:guideline"]
MEMBER_PAGES = ["projects:detail", "projects:guidelines"]


def urls(project, names):
    return [reverse(name, args=[project.slug]) for name in names]


def test_anonymous_users_are_sent_to_login(client, project):
    for url in [reverse("projects:list"), *urls(project, MEMBER_PAGES + MANAGER_ONLY + REVIEWER_ONLY)]:
        response = client.post(url) if "publish" in url else client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_labeler_cannot_open_settings_import_or_draft(labeler_client, project):
    for url in urls(project, MANAGER_ONLY + REVIEWER_ONLY):
        response = labeler_client.get(url) if "publish" not in url else labeler_client.post(url)
        assert response.status_code == 403, url
        assert b"Only a" in response.content


def test_labeler_reads_the_project_and_the_published_guideline(labeler_client, project):
    for url in urls(project, MEMBER_PAGES):
        assert labeler_client.get(url).status_code == 200, url


def test_sme_edits_the_draft_but_cannot_change_settings(sme_client, project):
    assert sme_client.get(reverse("projects:guideline", args=[project.slug])).status_code == 200
    assert sme_client.get(reverse("projects:settings", args=[project.slug])).status_code == 403


def test_member_of_another_project_sees_nothing(outsider_client, project, manager):
    for url in urls(project, MEMBER_PAGES + MANAGER_ONLY + REVIEWER_ONLY):
        response = outsider_client.get(url)
        assert response.status_code in (404, 405), url
    assert b"Support tickets" not in outsider_client.get(reverse("projects:list")).content


def test_my_projects_lists_only_memberships_with_roles(manager_client, project, other_project):
    response = manager_client.get(reverse("projects:list"))
    assert b"Support tickets" in response.content
    assert b"Manager" in response.content
    assert b"Other" not in response.content


def test_create_project_makes_creator_manager(manager_client, manager):
    response = manager_client.post(
        reverse("projects:create"), {"name": "Reviews", "slug": "reviews", "overlap": 2, "description": ""}
    )
    assert response.status_code == 302
    assert Membership.objects.get(project__slug="reviews", user=manager).role == Role.MANAGER


def test_create_project_with_taken_slug_is_a_form_error(manager_client, project):
    response = manager_client.post(reverse("projects:create"), {"name": "X", "slug": "support", "overlap": 3})
    assert response.status_code == 200
    assert b"already exists" in response.content


def test_new_project_help_shows_the_address_with_its_placeholder(manager_client):
    page = manager_client.get(reverse("projects:create")).content.decode()
    assert "Used in addresses: /projects/&lt;slug&gt;/" in page
    assert "/projects//" not in page
    assert 'aria-describedby="id_slug_helptext"' in page
    assert 'id="id_slug_helptext"' in page


def test_manager_saves_settings(manager_client, project):
    response = manager_client.post(
        reverse("projects:settings", args=[project.slug]),
        {
            "name": "Support",
            "description": "d",
            "overlap": 2,
            "lease_minutes": 10,
            "visible_metadata": "channel, language",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.overlap, project.lease_minutes, project.visible_metadata) == (
        2,
        10,
        ["channel", "language"],
    )


def test_invalid_settings_are_refused_without_change(manager_client, project):
    response = manager_client.post(
        reverse("projects:settings", args=[project.slug]),
        {"name": "Support", "overlap": 0, "lease_minutes": 10},
    )
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.overlap == 3


def test_manager_adds_edits_and_deletes_labels(manager_client, project):
    url = reverse("projects:label_save", args=[project.slug])
    manager_client.post(
        url, {"name": "refund", "shortcut_key": "5", "colour": "#123456", "description": "Money back"}
    )
    label = project.labels.get(name="refund")
    manager_client.post(
        url, {"label_id": label.pk, "name": "refund request", "shortcut_key": "6", "colour": "#123456"}
    )
    label.refresh_from_db()
    assert (label.name, label.shortcut_key) == ("refund request", "6")
    manager_client.post(reverse("projects:label_delete", args=[project.slug, label.pk]))
    assert not project.labels.filter(pk=label.pk).exists()


@pytest.mark.parametrize(
    ("key", "message"),
    [("a", b"reserved"), ("1", b"already the shortcut"), ("!", b"one key")],
)
def test_bad_label_keys_are_refused(manager_client, project, key, message):
    response = manager_client.post(
        reverse("projects:label_save", args=[project.slug]),
        {"name": "new", "shortcut_key": key, "colour": "#123456"},
        follow=True,
    )
    assert message in response.content
    assert not project.labels.filter(name="new").exists()


def test_a_label_name_with_the_set_separator_is_refused(manager_client, project):
    response = manager_client.post(
        reverse("projects:label_save", args=[project.slug]),
        {"name": "billing|refund", "shortcut_key": "7", "colour": "#123456"},
        follow=True,
    )
    assert b"cannot contain" in response.content
    assert not project.labels.filter(name__contains="|").exists()


@pytest.mark.parametrize("name", ["billing\nrefund", "billing\trefund", "bill\u2028ing"])
def test_a_label_name_is_one_line_without_control_characters(manager_client, project, name):
    response = manager_client.post(
        reverse("projects:label_save", args=[project.slug]),
        {"name": name, "shortcut_key": "7", "colour": "#123456"},
        follow=True,
    )
    assert b"one line of text" in response.content
    assert not project.labels.filter(shortcut_key="7").exists()


def test_labels_of_another_project_cannot_be_edited(manager_client, project, other_project):
    foreign = other_project.labels.first()
    response = manager_client.post(
        reverse("projects:label_save", args=[project.slug]),
        {"label_id": foreign.pk, "name": "hijacked", "shortcut_key": "9", "colour": "#123456"},
        follow=True,
    )
    assert b"Label not found" in response.content
    assert Label.objects.get(pk=foreign.pk).name != "hijacked"


def test_manager_changes_roles_of_members(manager_client, manager, project, labeler):
    """People join through invitations (tests/projects/test_invitations.py); roles change here."""
    url = reverse("projects:member_save", args=[project.slug])
    manager_client.post(url, {"username": "labeler", "role": "sme"})
    assert project.memberships.get(user=labeler).role == Role.SME


def test_weak_password_for_a_new_account_is_refused(project):
    from core.errors import ApplicationError
    from projects.services.projects import membership_save

    with pytest.raises(ApplicationError, match="Password:"):
        membership_save(project=project, actor=None, username="weak", role="labeler", password="123")
    assert not project.memberships.filter(user__username="weak").exists()


def test_the_last_manager_cannot_leave_or_be_demoted(manager_client, project, manager):
    membership = project.memberships.get(user=manager)
    response = manager_client.post(
        reverse("projects:member_remove", args=[project.slug, membership.pk]), follow=True
    )
    assert b"at least one manager" in response.content
    manager_client.post(
        reverse("projects:member_save", args=[project.slug]), {"username": "manager", "role": "labeler"}
    )
    membership.refresh_from_db()
    assert membership.role == Role.MANAGER


def test_responses_carry_a_content_security_policy(manager_client, project):
    response = manager_client.get(reverse("projects:detail", args=[project.slug]))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
