"""Rendering a full page or only its named partial, depending on who asks (requests are parsed by
django-htmx's middleware into `request.htmx`)."""

from django.shortcuts import render


def wants_partial(request) -> bool:
    """An htmx request that swaps part of a page. A history-restore request (htmx found no copy of
    the page in its cache after Back) is sent by htmx too, but it replaces the whole body, so it
    gets the full page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def render_page_or_partial(request, *, page: str, partial: str, context: dict, status: int = 200):
    """Full page for a normal request; only `partial` for an htmx swap."""
    template = partial if wants_partial(request) else page
    return render(request, template, context, status=status)
