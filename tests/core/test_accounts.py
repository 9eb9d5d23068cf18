"""Accounts without a shell: the first-run page, password change, password reset by email (read
from the test outbox) including after a login lockout, and deactivating a member."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from core.models import ApiToken, AuditEntry
from core.services import api_token_create
from projects.models import Role
from tests.conftest import client_for
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW = "a-brand-new-passphrase-77"


def login(client, username, password, address="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_first_run_makes_the_first_account_then_closes(client):
    assert reverse("first_run") in client.get(reverse("login")).content.decode()
    bad = client.post(
        reverse("first_run"),
        {"username": "boss", "email": "boss@example.org", "password": "x", "password_again": "y"},
    )
    assert bad.status_code == 400
    assert "The two passwords differ." in bad.content.decode()
    assert not User.objects.exists()
    response = client.post(
        reverse("first_run"),
        {"username": "boss", "email": "boss@example.org", "password": NEW, "password_again": NEW},
    )
    assert response.status_code == 302
    boss = User.objects.get()
    assert (boss.username, boss.is_staff, boss.is_superuser) == ("boss", True, True)
    assert client.get(reverse("projects:create")).status_code == 200  # logged in, may create projects
    assert Client().get(reverse("first_run")).status_code == 404
    assert Client().post(reverse("first_run"), {"username": "other"}).status_code == 404
    assert 'id="first-run-hint"' not in Client().get(reverse("login")).content.decode()
    assert AuditEntry.objects.filter(action="first_manager", actor_name="boss").exists()


def test_password_change(client):
    UserFactory(username="ada")
    assert login(client, "ada", PASSWORD).status_code == 302
    wrong = client.post(
        reverse("password_change"), {"old_password": "nope", "new_password1": NEW, "new_password2": NEW}
    )
    assert wrong.status_code == 200
    assert "Your old password was entered incorrectly" in wrong.content.decode()
    done = client.post(
        reverse("password_change"), {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )
    assert done["Location"] == reverse("password_change_done")
    assert client.get(reverse("projects:list")).status_code == 200  # still logged in
    assert login(Client(), "ada", NEW, "10.0.0.2").status_code == 302
    assert Client().get(reverse("password_change")).status_code == 302  # login first


def _reset_link(email):
    Client().post(reverse("password_reset"), {"email": email})
    assert len(mail.outbox) == 1
    return re.search(r"http://testserver(/accounts/password/reset/\S+/\S+/)", mail.outbox[0].body).group(1)


def test_password_reset_by_email_works_once():
    UserFactory(username="grace", email="grace@example.org")
    url = _reset_link("grace@example.org")
    assert mail.outbox[0].to == ["grace@example.org"]
    assert '"grace"' in mail.outbox[0].body
    browser = Client()
    form_url = browser.get(url)["Location"]  # Django swaps the token for a session marker
    page = browser.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert page["Location"] == reverse("password_reset_complete")
    assert login(Client(), "grace", NEW).status_code == 302
    again = Client().get(url, follow=True).content.decode()
    assert "This link does not work" in again


def test_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    assert "If an account uses that address" in response.content.decode()
    assert mail.outbox == []


def test_a_locked_out_account_gets_back_in_through_a_password_reset(settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="lin", email="lin@example.org")
    attacker = Client()
    for n in range(3):
        login(attacker, "lin", f"guess{n}", f"10.6.6.{n}")
    assert login(Client(), "lin", PASSWORD, "10.1.2.3").status_code == 429
    url = _reset_link("lin@example.org")
    browser = Client()
    browser.post(browser.get(url)["Location"], {"new_password1": NEW, "new_password2": NEW})
    assert login(Client(), "lin", NEW, "10.1.2.3").status_code == 302


@pytest.fixture
def member(project):
    user = UserFactory(username="leaver")
    return MembershipFactory(user=user, project=project, role=Role.LABELER)


def test_a_manager_deactivates_a_member(manager_client, project, member):
    _token, key = api_token_create(user=member.user, name="script")
    session = client_for(member.user)
    manager_client.post(reverse("projects:member_deactivate", args=[project.slug, member.pk]))
    member.user.refresh_from_db()
    assert member.user.is_active is False
    assert session.get(reverse("projects:list")).status_code == 302  # logged out
    assert login(Client(), "leaver", PASSWORD).status_code == 200  # refused
    assert Client().get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    assert ApiToken.objects.filter(user=member.user).exists()  # history kept
    assert project.memberships.filter(pk=member.pk).exists()
    assert AuditEntry.objects.filter(
        action="member_deactivated", target="leaver", actor_name="manager"
    ).exists()


def test_deactivation_limits(manager_client, manager, project, member):
    elsewhere = ProjectFactory(slug="elsewhere")
    MembershipFactory(user=member.user, project=elsewhere, role=Role.LABELER)
    page = manager_client.post(
        reverse("projects:member_deactivate", args=[project.slug, member.pk]), follow=True
    ).content.decode()
    assert "also works in projects you do not manage" in page
    own = project.memberships.get(user=manager)
    page = manager_client.post(
        reverse("projects:member_deactivate", args=[project.slug, own.pk]), follow=True
    ).content.decode()
    assert "your own account" in page
    member.user.refresh_from_db()
    manager.refresh_from_db()
    assert member.user.is_active
    assert manager.is_active


def test_only_managers_deactivate(sme_client, labeler_client, outsider_client, project, member):
    url = reverse("projects:member_deactivate", args=[project.slug, member.pk])
    assert sme_client.post(url).status_code == 403
    assert labeler_client.post(url).status_code == 403
    assert outsider_client.post(url).status_code == 404
    member.user.refresh_from_db()
    assert member.user.is_active
