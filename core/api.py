"""Shared REST API pieces: token authentication, the one project-role permission, pagination,
allow-listed ordering and the mapping of domain errors to JSON responses."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import authentication, exceptions, filters, pagination, permissions

from core.errors import AccessDenied, ApplicationError, NotFound
from core.services import api_token_authenticate
from projects.models import Role
from projects.selectors import membership_get

ALL_ROLES: tuple[str, ...] = (Role.MANAGER, Role.SME, Role.LABELER)
REVIEWERS: tuple[str, ...] = (Role.MANAGER, Role.SME)
MANAGERS: tuple[str, ...] = (Role.MANAGER,)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` with a key from the token page (core.models.ApiToken).

    Listed first in the settings, so its `authenticate_header` makes anonymous requests 401.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: use 'Bearer <token>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return (token.user, token)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class ProjectRolePermission(permissions.BasePermission):
    """The one place API views resolve the caller's membership of project `slug` and its role.

    A view declares `project_roles` (the roles allowed for every method) and may narrow them per
    method with `project_roles_by_method`. Non-members get 404 (a project's existence is not
    revealed), members with another role 403. On success `request.membership` and
    `request.project` are set for the view, which must scope every query to that project.
    """

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 (token auth is first) before any project lookup
        roles = getattr(view, "project_roles_by_method", {}).get(request.method, view.project_roles)
        try:
            membership = membership_get(user=request.user, slug=view.kwargs["slug"], roles=tuple(roles))
        except NotFound as exc:
            raise exceptions.NotFound(exc.message) from None
        except AccessDenied as exc:
            raise exceptions.PermissionDenied(exc.message) from None
        request.membership = membership
        request.project = membership.project
        return True


class ProjectScopedMixin:
    """For views under projects/<slug>/: authenticated members with one of `project_roles`."""

    permission_classes = [permissions.IsAuthenticated, ProjectRolePermission]
    project_roles: tuple[str, ...] = ALL_ROLES


# DRF refuses NUL characters in text input; saying so in the schema (as a pattern) keeps the
# documented contract and the behaviour the same for clients and for the schema tests.
NO_NUL_CHARACTERS = RegexValidator(r"^[^\x00]*$", "Null characters are not allowed.")


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CursorPagination(pagination.CursorPagination):
    """For tables that may hold millions of rows: no COUNT(*), stable under inserts."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "id"


class AllowListOrderingFilter(filters.OrderingFilter):
    """`?ordering=` restricted to the view's `ordering_choices` (e.g. ("id", "-id")).

    Anything else is a 400, never passed to the ORM. One term only, because cursor pagination
    pages on its first ordering field.
    """

    def get_valid_fields(self, queryset, view, context=None):
        return [(choice.lstrip("-"), choice.lstrip("-")) for choice in view.ordering_choices]

    def get_ordering(self, request, queryset, view):
        value = request.query_params.get(self.ordering_param)
        if value is None or value == "":
            return self.get_default_ordering(view)
        if value not in view.ordering_choices:
            allowed = ", ".join(view.ordering_choices)
            raise exceptions.ValidationError(
                {self.ordering_param: [f"Unknown ordering {value!r}: use one of {allowed}."]}
            )
        tiebreak = "-id" if value.startswith("-") else "id"
        return [value] if value.lstrip("-") == "id" else [value, tiebreak]

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort order.",
                "schema": {"type": "string", "enum": list(view.ordering_choices)},
            }
        ]


def query_params_validate(serializer_class, request) -> dict:
    """Typed, validated filter values from the query string (400 on bad input)."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return {key: value for key, value in serializer.validated_data.items() if value is not None}


def exception_handler(exc, context):
    """DRF's handler, plus domain errors: NotFound 404, AccessDenied 403, other errors 400."""
    # Imported here: DRF's settings import this module while rest_framework.views is loading.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, NotFound):
        exc = exceptions.NotFound(exc.message)
    elif isinstance(exc, AccessDenied):
        exc = exceptions.PermissionDenied(exc.message)
    elif isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError({"detail": exc.message, **exc.extra})
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError({"detail": exc.messages})
    return drf_exception_handler(exc, context)
