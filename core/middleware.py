"""Cross-cutting middleware: request body limits, refusing unusable addresses and response headers
(htmx requests are detected by django-htmx's middleware)."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from core.request_limits import (
    BoundedBodyStream,
    RequestBodyTooLarge,
    request_body_limit,
    smallest_body_limit,
)

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


def _too_large(request, message: str) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": message}, status=413)
    return HttpResponse(render_to_string("413.html", {"message": message}), status=413)


class RequestBodyLimitMiddleware:
    """First in MIDDLEWARE: enforces core.request_limits while the body is read.

    A Content-Length over the URL's limit is answered 413 before anything is read. A chunked body
    (no Content-Length; gunicorn de-chunks it and sets wsgi.input_terminated) is read through a
    BoundedBodyStream, so it fails once it passes the limit; its missing CONTENT_LENGTH is set to
    a non-zero placeholder, because Django and DRF read no body without one (the stream, not that
    number, bounds what is read).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The URL is resolved (for its own limit) only for a body that could pass the smallest limit.
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit():
            if int(length) > smallest_body_limit():
                limit = request_body_limit(request)
                if int(length) > limit.body_bytes:
                    return _too_large(request, limit.message)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and request.META.get(
            "wsgi.input_terminated"
        ):
            limit = request_body_limit(request)
            request._stream = BoundedBodyStream(request.META["wsgi.input"], limit)
            request.META["CONTENT_LENGTH"] = str(min(limit.body_bytes, settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or getattr(view_func, "csrf_exempt", False):
            return None
        # CsrfViewMiddleware reads the form next, for its token; an error raised in there would be a
        # 500, so the form is read here, where a body over the limit becomes a 413. (A file sent
        # by an anonymous request is refused with a 403 before it is read: core.request_limits.)
        try:
            request.POST  # noqa: B018
        except RequestBodyTooLarge as exc:
            return _too_large(request, str(exc.detail))
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, RequestBodyTooLarge):
            return _too_large(request, str(exception.detail))
        return None


class ContentSecurityPolicyMiddleware:
    """Sends a strict CSP: only our own scripts and styles, never inline code."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class VaryOnHtmxMiddleware:
    """Pages answer an htmx request with a partial and any other with the whole page
    (core.htmx.wants_partial), so every response varies on the HX-Request header: a browser or
    proxy cache must never serve one for the other."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


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
