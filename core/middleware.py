"""Cross-cutting response headers, refusing unusable addresses, and htmx request detection."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Sends a strict CSP: only our own scripts and styles, never inline code."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class HtmxMiddleware:
    """Sets `request.htmx` so views can render a partial instead of the full page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.htmx = request.headers.get("HX-Request") == "true"
        return self.get_response(request)


NUL_MESSAGE = "The address contains a NUL character (%00), which no Concord address has."


class NulInAddressMiddleware:
    """A NUL character in the path or the query string is a 400 before any view runs: no route
    or parameter takes one, and PostgreSQL refuses it in every query (a 500 otherwise). JSON under
    /api/, the 400 page elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NUL_MESSAGE}, status=400)
            return render(request, "400.html", {"message": NUL_MESSAGE}, status=400)
        return self.get_response(request)


class NoStoreMiddleware:
    """API answers and file downloads hold private data: no browser or proxy may keep a copy
    (Cache-Control: no-store, with the rest of Django's never-cache headers)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/") or response.get("Content-Disposition", "").startswith(
            "attachment"
        ):
            add_never_cache_headers(response)
        return response
