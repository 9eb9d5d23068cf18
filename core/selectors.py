"""Reads of shared models: a user's own API tokens and notices."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from core.models import ApiToken, Notice


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's tokens, active first, newest first."""
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id")


def notices_recent(*, user: AbstractBaseUser, limit: int = 50) -> list[Notice]:
    return list(Notice.objects.filter(user=user).order_by("-created_at", "-id")[:limit])


def notices_unread_count(*, user: AbstractBaseUser) -> int:
    return Notice.objects.filter(user=user, read_at__isnull=True).count()
