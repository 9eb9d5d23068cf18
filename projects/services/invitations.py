"""Invitations: a manager invites someone by email to a project with a role; the person accepts
through a signed, expiring, single-use link, as the account that holds the address, or as a new
account made from the link, never a duplicate of an existing one.

The link's token is `django.core.signing.dumps({"i": id, "n": nonce})`: the signature proves it
came from Concord and was not edited, `max_age` bounds it in time, and the row (nonce, accepted_at,
revoked_at, read under its row lock) makes it work once. Sending again replaces the nonce, so an
older link of the same invitation stops working.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.errors import ApplicationError, NotFound
from core.models import AuditEntry
from core.services import audit_record
from projects.models import Invitation, Membership, Project, Role

SALT = "concord.invitation"
INVALID_LINK = (
    "This invitation link is not valid: it may have been copied incompletely. "
    "Open the link from the email again, or ask the project's manager for a new invitation."
)
EXPIRED_LINK = "This invitation has expired. Ask the project's manager to send a new one."
USED_LINK = "This invitation has already been used. Log in, or ask the project's manager for a new one."
REVOKED_LINK = "This invitation was withdrawn. Ask the project's manager for a new one."
SEND_FAILED = "The email could not be sent ({error}); nothing was saved. Try again in a moment."


class InvitationRefused(ApplicationError):
    """The link is tampered, expired, used or withdrawn: the message says which, and what to do."""


def _max_age() -> timedelta:
    return timedelta(days=settings.CONCORD_INVITATION_DAYS)


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=SALT)


def _send(invitation: Invitation, *, site_url: str) -> None:
    link = site_url.rstrip("/") + reverse("invitation_accept", args=[invitation_token(invitation)])
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "A manager"
    role = Role(invitation.role).label.lower()
    body = (
        f'{inviter} invites you to the Concord project "{invitation.project.name}" as {role}.\n\n'
        "Accept the invitation here (the link works once, until "
        f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n"
        f"{link}\n\n"
        "If you already have a Concord account with this address, log in with it when asked; "
        "otherwise you will choose a username and a password.\n"
    )
    try:
        send_mail(
            # A subject is one line (a name with a line break in it would make the mail refuse
            # the header, and the invitation fail).
            f"Invitation to {' '.join(invitation.project.name.split())} on Concord",
            body,
            None,
            [invitation.email],
            fail_silently=False,
        )
    except Exception as exc:  # noqa: BLE001  (SMTP, DNS, socket: all mean "not sent")
        raise ApplicationError(SEND_FAILED.format(error=type(exc).__name__)) from None


@transaction.atomic
def invitation_create(
    *, project: Project, actor: AbstractBaseUser | None, email: str, role: str, site_url: str
) -> Invitation:
    """Invite `email` to the project as `role` and mail the link. A pending invitation of the same
    address is replaced (its link stops working). The email is sent inside the transaction: if
    it cannot be sent, no invitation is left behind."""
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError(
            "Enter a valid email address.", extra={"email": ["Enter a valid email address."]}
        ) from None
    if role not in Role.values:
        raise ApplicationError("Choose a role: labeler, SME or manager.", extra={"role": ["Choose a role."]})
    Project.objects.select_for_update().get(pk=project.pk)  # one pending invitation per address
    if project.memberships.filter(user__email__iexact=email).exists():
        raise ApplicationError(
            f"{email} is already a member of this project; change their role in the table."
        )
    now = timezone.now()
    project.invitations.filter(email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    invitation = Invitation.objects.create(
        project=project,
        email=email,
        role=role,
        nonce=secrets.token_urlsafe(16),
        invited_by=actor if actor is not None and actor.is_authenticated else None,
        expires_at=now + _max_age(),
    )
    audit_record(
        action=AuditEntry.Action.INVITATION_SENT,
        actor=actor,
        project=project,
        target=email,
        details={"role": role},
    )
    _send(invitation, site_url=site_url)
    return invitation


@transaction.atomic
def invitation_revoke(*, project: Project, actor: AbstractBaseUser, invitation_id: int) -> Invitation:
    invitation = project.invitations.select_for_update().filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found.")
    if invitation.accepted_at is not None:
        raise ApplicationError("This invitation was already accepted; remove the member instead.")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditEntry.Action.INVITATION_REVOKED, actor=actor, project=project, target=invitation.email
        )
    return invitation


def invitation_check(*, token: str, lock: bool = False) -> Invitation:
    """The invitation behind a link, if the link may still be used; else InvitationRefused."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=_max_age())
    except signing.SignatureExpired:
        raise InvitationRefused(EXPIRED_LINK) from None
    except signing.BadSignature:
        raise InvitationRefused(INVALID_LINK) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("i"), int):
        raise InvitationRefused(INVALID_LINK)
    rows = Invitation.objects.select_related("project", "invited_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(pk=payload["i"]).first()
    if invitation is None or not secrets.compare_digest(invitation.nonce, str(payload.get("n", ""))):
        # A resent invitation has a new nonce: the older link is as good as withdrawn.
        raise InvitationRefused(REVOKED_LINK if invitation is not None else INVALID_LINK)
    if invitation.accepted_at is not None:
        raise InvitationRefused(USED_LINK)
    if invitation.revoked_at is not None:
        raise InvitationRefused(REVOKED_LINK)
    if invitation.expires_at <= timezone.now():
        raise InvitationRefused(EXPIRED_LINK)
    return invitation


def invitation_account(*, invitation: Invitation) -> AbstractBaseUser | None:
    """The active account that already holds the invited address (accepting links to it), if any."""
    return (
        get_user_model().objects.filter(email__iexact=invitation.email, is_active=True).order_by("pk").first()
    )


def _join(invitation: Invitation, user: AbstractBaseUser) -> Membership:
    membership = Membership.objects.filter(project=invitation.project, user=user).first()
    if membership is None:
        membership = Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
    # Already a member (invited twice, or added meanwhile): the role they hold stays.
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action=AuditEntry.Action.INVITATION_ACCEPTED,
        actor=user,
        project=invitation.project,
        target=invitation.email,
        details={"role": membership.role, "account": user.get_username()},
    )
    return membership


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """Accept as the signed-in `user`. When an account already holds the invited address, only
    that account may accept (so the same person never ends up with two accounts)."""
    invitation = invitation_check(token=token, lock=True)
    holder = invitation_account(invitation=invitation)
    if holder is not None and holder.pk != user.pk:
        raise InvitationRefused(
            f"This invitation is for {invitation.email}, which belongs to another account: "
            "log out, then log in as that account to accept it."
        )
    return _join(invitation, user)


@transaction.atomic
def invitation_accept_new_account(
    *, token: str, username: str, password: str, password_again: str
) -> Membership:
    """Accept by making a new account with the invited address. Refused when an account already
    holds the address: that person logs in and accepts as themselves instead."""
    invitation = invitation_check(token=token, lock=True)
    if invitation_account(invitation=invitation) is not None:
        raise InvitationRefused(
            f"An account with the address {invitation.email} already exists: log in with it to accept."
        )
    User = get_user_model()
    username = (username or "").strip()
    user = User(username=username, email=invitation.email)
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        errors.update({f: list(m) for f, m in exc.message_dict.items()})
    if password != password_again:
        errors["password_again"] = ["The two passwords differ."]
    else:
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        first = "; ".join(f"{field.replace('_', ' ')}: {' '.join(m)}" for field, m in errors.items())
        raise ApplicationError(first, extra=errors)
    user.set_password(password)
    user.save()
    return _join(invitation, user)
