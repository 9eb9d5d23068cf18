"""Reads of shared models: a user's own API tokens."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from core.models import ApiToken


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's tokens, active first, newest first."""
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id")
