"""The one place where page views check membership and role (Zulip-style access checks).

Non-members get 404 so they cannot probe which projects exist; members with the wrong role
get 403 with a message naming the role that is needed.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render

from core.errors import AccessDenied, NotFound
from projects.selectors import membership_get


def project_role_required(*roles: str):
    """Decorate a view taking `slug`: sets request.membership and request.project, or refuses."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                membership = membership_get(user=request.user, slug=slug, roles=roles or None)
            except NotFound:
                raise Http404("Project not found.") from None
            except AccessDenied as exc:
                return render(request, "403.html", {"message": exc.message}, status=403)
            request.membership = membership
            request.project = membership.project
            return view(request, slug, *args, **kwargs)

        return wrapper

    return decorator
