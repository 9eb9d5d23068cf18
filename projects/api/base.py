"""What every API view under projects/<slug>/ shares: the roles, and the one permission that resolves
the caller's membership of the project (non-members 404, other roles 403)."""

from rest_framework import exceptions, permissions

from core.api import ClosedQueryMixin
from core.errors import AccessDenied, NotFound
from projects.models import Role
from projects.selectors import membership_get

ALL_ROLES: tuple[str, ...] = (Role.MANAGER, Role.SME, Role.LABELER)


REVIEWERS: tuple[str, ...] = (Role.MANAGER, Role.SME)


MANAGERS: tuple[str, ...] = (Role.MANAGER,)


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


class ProjectScopedMixin(ClosedQueryMixin):
    """For views under projects/<slug>/: authenticated members with one of `project_roles`."""

    permission_classes = [permissions.IsAuthenticated, ProjectRolePermission]
    project_roles: tuple[str, ...] = ALL_ROLES
