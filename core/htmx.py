"""Rendering a full page or only its named partial, depending on who asks."""

from django.shortcuts import render


def render_page_or_partial(request, *, page: str, partial: str, context: dict, status: int = 200):
    """Full page for a normal request; only `partial` for an htmx request (django-htmx style)."""
    template = partial if getattr(request, "htmx", False) else page
    return render(request, template, context, status=status)
