"""Writes of shared models: personal API tokens (create, the key returned once; revoke;
authenticate) and the audit log (`audit_record`, called by the services of every layer)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core.errors import ApplicationError, NotFound
from core.models import ApiToken, AuditEntry, Notice
from core.rawsql import models_fetch_one, select_columns

KEY_PREFIX = "concord_"
MAX_ACTIVE_TOKENS = 20


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new token for `user` and its key. The key is not stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the token a name, e.g. the script or machine that will use it.")
    with transaction.atomic():
        active = ApiToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        if len(active) >= MAX_ACTIVE_TOKENS:
            raise ApplicationError(f"You have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken.objects.create(
            user=user, name=name[:100], key_digest=_digest(key), key_prefix=key[: len(KEY_PREFIX) + 6]
        )
        audit_record(
            action=AuditEntry.Action.TOKEN_CREATED, actor=user, target=f"{token.name} ({token.key_prefix}…)"
        )
    return token, key


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (another user's token is NotFound). Idempotent."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("Token not found.")
    if token.revoked_at is None:
        with transaction.atomic():
            if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            ):
                audit_record(
                    action=AuditEntry.Action.TOKEN_REVOKED,
                    actor=user,
                    target=f"{token.name} ({token.key_prefix}…)",
                )
        token.refresh_from_db(fields=["revoked_at"])
    return token


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The active token with this key (its user loaded), or None; records when it was last used."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    # Plain SQL: the request path of every API call (building the queryset cost more than running it).
    user_model = get_user_model()
    found = models_fetch_one(
        f"SELECT {select_columns((ApiToken, 't'), (user_model, 'u'))} FROM {ApiToken._meta.db_table} AS t "
        f"JOIN {user_model._meta.db_table} AS u ON u.{user_model._meta.pk.column} = t.user_id "
        "WHERE t.key_digest = %s AND t.revoked_at IS NULL AND u.is_active",
        [_digest(key)],
        ApiToken,
        user_model,
    )
    if found is None:
        return None
    token, token.user = found
    now = timezone.now()
    touch_every = timedelta(seconds=settings.CONCORD_API_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is None or now - token.last_used_at > touch_every:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def audit_record(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    project=None,
    target: str = "",
    details: dict | None = None,
) -> AuditEntry:
    """Append one row to the audit log, inside the caller's transaction (so an action that rolls
    back leaves no row). `project` is any project (core cannot name the model); `actor` None or
    anonymous means an operator's command. The row keeps names as well as ids: it outlives both."""
    if action not in AuditEntry.Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    person = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        action=action,
        project_id=getattr(project, "pk", None),
        project_slug=getattr(project, "slug", "") or "",
        actor_id=person.pk if person is not None else None,
        actor_name=person.get_username() if person is not None else "",
        target=(target or "")[:300],
        details=details or {},
    )


class FirstRunClosed(ApplicationError):
    """Someone already has an account: the first-run page is closed."""


def first_manager_create(
    *, username: str, email: str, password: str, password_again: str
) -> AbstractBaseUser:
    """Create the first account (staff and superuser, so it can create projects and invite people)
    when none exists. On PostgreSQL an advisory lock makes two simultaneous first runs one."""
    User = get_user_model()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('concord.first_run'))")
        if User.objects.exists():
            raise FirstRunClosed(
                "Concord already has accounts: log in, or ask an administrator for an invitation."
            )
        user = User(
            username=(username or "").strip(), email=(email or "").strip(), is_staff=True, is_superuser=True
        )
        errors: dict[str, list[str]] = {}
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            errors.update({f: list(m) for f, m in exc.message_dict.items()})
        if not user.email:
            errors.setdefault("email", []).append("Give an email address: password resets are sent there.")
        if password != password_again:
            errors["password_again"] = ["The two passwords differ."]
        else:
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                errors["password"] = list(exc.messages)
        if errors:
            raise ApplicationError(
                "; ".join(f"{f.replace('_', ' ')}: {' '.join(m)}" for f, m in errors.items()), extra=errors
            )
        user.set_password(password)
        user.save()
        audit_record(action=AuditEntry.Action.FIRST_MANAGER, actor=user, target=user.get_username())
    return user


def notice_send(*, users, project=None, kind: str, text: str, url: str = "") -> int:
    """Leave a notice for each of `users` (inactive accounts skipped); returns how many. (Newly
    queued cases reach SMEs through labeling.services.decisions.cases_queued_notify: one unread
    notice each until they look.)"""
    project_id = getattr(project, "pk", None)
    recipients = [u for u in users if getattr(u, "is_active", True)]
    Notice.objects.bulk_create(
        Notice(user=u, project_id=project_id, kind=kind[:32], text=text[:300], url=url[:300])
        for u in recipients
    )
    return len(recipients)


def notices_mark_read(*, user: AbstractBaseUser) -> int:
    return Notice.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
