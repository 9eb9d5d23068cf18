"""The token page: a logged-in user creates named API tokens (each key shown once) and revokes them."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, NotFound
from core.selectors import api_token_list
from core.services import api_token_create, api_token_revoke


def _render(request, *, new_key: str = "", error: str = "", status: int = 200):
    return render(
        request,
        "core/api_tokens.html",
        {"tokens": api_token_list(user=request.user), "new_key": new_key, "error": error},
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    if request.method == "GET":
        return _render(request)
    try:
        _token, key = api_token_create(user=request.user, name=request.POST.get("name", ""))
    except ApplicationError as exc:
        return _render(request, error=exc.message, status=400)
    # The key is rendered in this response only (no redirect, no session): it cannot be shown again.
    return _render(request, new_key=key, status=201)


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    try:
        api_token_revoke(user=request.user, token_id=token_id)
    except NotFound:
        return _render(request, error="Token not found.", status=404)
    return redirect("api_tokens")
