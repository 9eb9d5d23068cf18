"""Invitations end to end, reading the email from the test outbox: a new person makes an account
from the link, an existing account is linked (never duplicated), and tampered, expired, reused or
withdrawn links get a clear message. Adding someone from the web goes only through invitations."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from projects.models import Invitation, Role
from projects.services import invitations
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def invite(client, project, email, role="labeler"):
    return client.post(
        reverse("projects:invitation_send", args=[project.slug]), {"email": email, "role": role}, follow=True
    )


def link_in(message) -> str:
    return re.search(r"http://testserver(/invitations/[^/\s]+/)", message.body).group(1)


def test_a_new_person_joins_through_the_emailed_link(manager_client, project):
    page = invite(manager_client, project, "newbie@example.org", "sme").content.decode()
    assert "Invitation sent to newbie@example.org" in page
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newbie@example.org"]
    assert "Support tickets" in message.subject
    assert "subject-matter expert" in message.body
    url = link_in(message)
    visitor = Client()
    page = visitor.get(url).content.decode()
    assert "Join Support tickets" in page
    assert "Choose a username" in page
    response = visitor.post(
        url,
        {"username": "newbie", "password": "a-long-passphrase-42", "password_again": "a-long-passphrase-42"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:detail", args=[project.slug])
    user = User.objects.get(username="newbie")
    assert user.email == "newbie@example.org"
    assert project.memberships.get(user=user).role == Role.SME
    assert visitor.get(reverse("projects:detail", args=[project.slug])).status_code == 200  # logged in
    # The link works once.
    again = Client().get(url)
    assert again.status_code == 400
    assert "already been used" in again.content.decode()
    actions = set(AuditEntry.objects.filter(project_id=project.pk).values_list("action", flat=True))
    assert {"invitation_sent", "invitation_accepted"} <= actions


def test_an_existing_account_is_linked_not_duplicated(manager_client, project, other_project):
    ada = UserFactory(username="ada", email="Ada@Example.org")
    invite(manager_client, project, "ada@example.org", "labeler")
    url = link_in(mail.outbox[0])
    anonymous = Client()
    page = anonymous.get(url).content.decode()
    assert "An account already uses this address" in page
    # Trying to make a second account with the address is refused.
    response = anonymous.post(
        url,
        {"username": "ada2", "password": "a-long-passphrase-42", "password_again": "a-long-passphrase-42"},
    )
    assert response.status_code == 400
    assert "already exists: log in with it" in response.content.decode()
    assert not User.objects.filter(username="ada2").exists()
    # Someone else's session cannot take it either.
    intruder = client_for(UserFactory(username="intruder", email="intruder@example.org"))
    response = intruder.post(url)
    assert response.status_code == 400
    assert "belongs to another account" in response.content.decode()
    # Ada, logged in, accepts: her one account joins.
    response = client_for(ada).post(url)
    assert response.status_code == 302
    assert project.memberships.get(user=ada).role == Role.LABELER
    assert User.objects.filter(email__iexact="ada@example.org").count() == 1


def test_bad_links_get_a_clear_message_never_a_500(manager_client, project, manager):
    invite(manager_client, project, "bo@example.org")
    url = link_in(mail.outbox[0])
    token = url.split("/")[2]
    visitor = Client()
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, "not-a-token", "x" * 300, signing.dumps({"i": "1"}, salt=invitations.SALT)):
        response = visitor.get(f"/invitations/{bad}/")
        assert response.status_code == 400, bad
        assert "not valid" in response.content.decode()
    # Forged with another salt (e.g. a password-reset or session signature): invalid too.
    invitation = Invitation.objects.get(email="bo@example.org")
    forged = signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt="something.else")
    assert "not valid" in visitor.get(f"/invitations/{forged}/").content.decode()
    # Expired: by the signature's age and by the row.
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = visitor.post(
        url, {"username": "bo", "password": "a-long-passphrase-42", "password_again": "x"}
    )
    assert response.status_code == 400
    assert "has expired" in response.content.decode()
    assert not User.objects.filter(username="bo").exists()


def test_the_signature_expires_after_the_configured_days(manager_client, project, settings, monkeypatch):
    invite(manager_client, project, "late@example.org")
    url = link_in(mail.outbox[0])
    later = timezone.now() + timedelta(days=settings.CONCORD_INVITATION_DAYS, minutes=1)
    monkeypatch.setattr("time.time", lambda: later.timestamp())
    response = Client().get(url)
    assert response.status_code == 400
    assert "has expired" in response.content.decode()


def test_resending_and_withdrawing_kill_older_links(manager_client, project):
    invite(manager_client, project, "cy@example.org")
    first = link_in(mail.outbox[0])
    invite(manager_client, project, "cy@example.org", "sme")
    second = link_in(mail.outbox[1])
    assert "withdrawn" in Client().get(first).content.decode()
    assert Client().get(second).status_code == 200
    invitation = Invitation.objects.get(email="cy@example.org", revoked_at__isnull=True)
    manager_client.post(reverse("projects:invitation_revoke", args=[project.slug, invitation.pk]))
    response = Client().get(second)
    assert response.status_code == 400
    assert "withdrawn" in response.content.decode()


def test_invitation_form_refuses_bad_input_and_members(manager_client, project, labeler):
    page = invite(manager_client, project, "not-an-address").content.decode()
    assert "No invitation was sent" in page
    page = invite(manager_client, project, "labeler@example.com").content.decode()
    assert "already a member" in page
    page = invite(manager_client, project, "ok@example.org", "owner").content.decode()
    assert "No invitation was sent" in page
    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_a_project_name_with_a_line_break_still_makes_a_one_line_subject(manager_client, project):
    project.name = "Support\ntickets\r\n 2"
    project.save(update_fields=["name"])
    assert "Invitation sent" in invite(manager_client, project, "newbie@example.org").content.decode()
    assert mail.outbox[0].subject == "Invitation to Support tickets 2 on Concord"


def test_a_failed_email_leaves_no_invitation(manager_client, project, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    page = invite(manager_client, project, "nobody@example.org").content.decode()
    assert "could not be sent" in page
    assert not Invitation.objects.exists()
    assert not AuditEntry.objects.filter(action="invitation_sent").exists()


def test_only_managers_invite(sme_client, labeler_client, outsider_client, project):
    for client, status in ((sme_client, 403), (labeler_client, 403), (outsider_client, 404)):
        response = client.post(
            reverse("projects:invitation_send", args=[project.slug]),
            {"email": "x@example.org", "role": "manager"},
        )
        assert response.status_code == status
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_nobody_adds_a_person_from_the_web_without_an_invitation(client, project):
    staff = UserFactory(username="admin", is_staff=True, is_superuser=True)
    project.memberships.create(user=staff, role=Role.MANAGER)
    UserFactory(username="existing")
    response = client_for(staff).post(
        reverse("projects:member_save", args=[project.slug]),
        {"username": "existing", "role": "labeler"},
        follow=True,
    )
    assert "accepting an invitation" in response.content.decode()
    assert not project.memberships.filter(user__username="existing").exists()
