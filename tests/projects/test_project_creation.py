"""Who may create projects (a setting: staff, managers of a project, or everyone), that nobody
adds people from the web without an invitation (the member form's one answer for accounts that
exist and those that do not), and project addresses that Concord's own URLs reserve."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from projects.models import RESERVED_SLUGS, Membership, Project, Role
from projects.services.projects import ADD_MEMBER_NEEDS_INVITATION
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
NEW = {"name": "Reviews", "slug": "reviews", "overlap": 2, "description": ""}


@pytest.fixture
def nobody(client):
    """Signed in, a labeler of one project: manages nothing, not staff."""
    user = UserFactory(username="nobody")
    client.force_login(user)
    return user


@pytest.fixture
def staff_client():
    staff = Client()  # not the `client` fixture, which other fixtures log in as someone else
    staff.force_login(UserFactory(username="admin", is_staff=True))
    return staff


def test_by_default_a_user_who_manages_nothing_cannot_create_projects(client, nobody, project):
    MembershipFactory(user=nobody, project=project, role=Role.LABELER)
    page = client.get(reverse("projects:list")).content.decode()
    assert "New project" not in page
    for response in (client.get(reverse("projects:create")), client.post(reverse("projects:create"), NEW)):
        assert response.status_code == 403
        assert "Only staff and managers of a project can create projects" in response.content.decode()
    assert not Project.objects.filter(slug="reviews").exists()


def test_by_default_managers_and_staff_create_projects(manager_client, manager, staff_client):
    assert "New project" in manager_client.get(reverse("projects:list")).content.decode()
    assert manager_client.post(reverse("projects:create"), NEW).status_code == 302
    assert Membership.objects.get(project__slug="reviews").user == manager
    assert staff_client.post(reverse("projects:create"), {**NEW, "slug": "staff-made"}).status_code == 302


def test_staff_only(settings, manager_client):
    settings.CONCORD_PROJECT_CREATORS = "staff"
    assert "New project" not in manager_client.get(reverse("projects:list")).content.decode()
    response = manager_client.post(reverse("projects:create"), NEW)
    assert response.status_code == 403
    assert "Only staff can create projects" in response.content.decode()


def test_everyone(settings, client, nobody):
    settings.CONCORD_PROJECT_CREATORS = "everyone"
    assert "New project" in client.get(reverse("projects:list")).content.decode()
    assert client.post(reverse("projects:create"), NEW).status_code == 302
    assert Membership.objects.get(project__slug="reviews").user == nobody


@pytest.mark.parametrize("slug", sorted(RESERVED_SLUGS))
def test_reserved_addresses_are_refused(staff_client, slug):
    response = staff_client.post(reverse("projects:create"), {**NEW, "slug": slug})
    assert response.status_code == 200
    assert "Concord&#x27;s addresses use" in response.content.decode()
    assert not Project.objects.filter(slug=slug).exists()


def _literal_segments(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _literal_segments(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            for base in ("projects/", "api/v1/projects/"):
                if route.startswith(base):
                    yield from (part for part in route[len(base) :].split("/") if part and "<" not in part)


def test_every_fixed_segment_under_projects_is_reserved():
    """/projects/new/ would hide a project called "new"; the words of the pages inside a project
    are kept free too. A new route adds its words to RESERVED_SLUGS."""
    segments = set(_literal_segments(get_resolver().url_patterns))
    assert "new" in segments
    assert segments <= RESERVED_SLUGS, f"add to RESERVED_SLUGS: {sorted(segments - RESERVED_SLUGS)}"


def member_form(client, project, **data):
    return client.post(reverse("projects:member_save", args=[project.slug]), data, follow=True)


def test_nobody_adds_anyone_without_an_invitation(manager_client, staff_client, project):
    """The same answer for an existing account (even a superuser) and for a name nobody has, and
    no account is made from a password either, for managers and staff alike."""
    UserFactory(username="root", is_superuser=True, is_staff=True)
    MembershipFactory(user=get_user_model().objects.get(username="admin"), project=project, role=Role.MANAGER)
    answers = set()
    for client in (manager_client, staff_client):
        for data in (
            {"username": "root", "role": "manager"},
            {"username": "no-such-person", "role": "manager"},
            {"username": "no-such-person", "role": "labeler", "password": "a-long-passphrase-42"},
        ):
            page = member_form(client, project, **data).content.decode()
            answers.add(page.split('<ul class="messages">')[1].split("</ul>")[0])
    assert len(answers) == 1
    assert "People join a project by accepting an invitation" in answers.pop()
    assert not project.memberships.filter(user__username__in=["root", "no-such-person"]).exists()
    assert not get_user_model().objects.filter(username="no-such-person").exists()


def test_a_manager_who_is_not_staff_still_changes_members_roles(manager_client, project, labeler):
    member_form(manager_client, project, username="labeler", role="sme")
    assert project.memberships.get(user=labeler).role == Role.SME


def test_the_settings_page_offers_invitations_not_adding(manager_client, project):
    page = manager_client.get(reverse("projects:settings", args=[project.slug])).content.decode()
    assert "Add member</button>" not in page
    assert "Send invitation</button>" in page
    assert ADD_MEMBER_NEEDS_INVITATION.split(":")[0] not in page


def test_operator_commands_still_add_accounts(project):
    from projects.services.projects import membership_save

    UserFactory(username="existing")
    membership_save(project=project, actor=None, username="existing", role="labeler")
    membership_save(
        project=project, actor=None, username="fresh", role="sme", password="a-long-passphrase-42"
    )
    roles = dict(project.memberships.values_list("user__username", "role"))
    assert (roles["existing"], roles["fresh"]) == (Role.LABELER, Role.SME)
