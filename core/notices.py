"""The notices page (each person's own), and the unread count every page shows next to the bell."""

import functools

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from core.selectors import notices_recent, notices_unread_count
from core.services import notices_mark_read


def unread_notices(request) -> dict:
    """Context processor: the signed-in person's unread notices, for the badge in base.html."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Counted only when a template shows it (base.html), once: partials never ask for it.
    return {"unread_notices": functools.cache(lambda: notices_unread_count(user=user))}


@require_safe
@login_required
def notice_list(request):
    return render(request, "core/notices.html", {"notices": notices_recent(user=request.user)})


@require_POST
@login_required
def notice_read(request):
    notices_mark_read(user=request.user)
    return redirect("notices")
