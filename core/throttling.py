"""Limits on how fast one client may knock: the client's address behind trusted proxies, the API's
rate limits (per user or token, per address, stricter for writes and for named expensive writes),
and the login page shown while django-axes holds an account or address locked out."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ImproperlyConfigured
from django.shortcuts import render
from rest_framework import throttling

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def client_address(request) -> str:
    """The caller's IP address: the socket's, or with CONCORD_PROXY_COUNT = n trusted proxies in
    front, the address the outermost of them saw (n-th from the right in X-Forwarded-For).
    Nothing a client writes into the header itself can move it."""
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = settings.CONCORD_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if not forwarded:
        return remote
    return forwarded[-min(proxies, len(forwarded))]


class _Throttle(throttling.SimpleRateThrottle):
    """Rates come from settings.CONCORD_API_THROTTLE_RATES when a request is checked, not when
    the module is imported, so an operator's settings and the tests' both take effect."""

    def get_rate(self):
        rates = settings.CONCORD_API_THROTTLE_RATES
        if self.scope not in rates:  # a scope nobody configured is a mistake, not "unlimited"
            raise ImproperlyConfigured(f"CONCORD_API_THROTTLE_RATES has no rate for {self.scope!r}.")
        return rates[self.scope]

    def get_ident(self, request):
        return client_address(request)

    def _user_or_address(self, request) -> str:
        if request.user and request.user.is_authenticated:
            return f"user-{request.user.pk}"
        return f"address-{self.get_ident(request)}"


class UserRateThrottle(_Throttle):
    """Every request of one user, whether by token or by browser session; anonymous callers are
    counted by address."""

    scope = "user"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self._user_or_address(request)}


class AddressRateThrottle(_Throttle):
    """Every request from one address, whoever sends it: many tokens do not multiply the rate."""

    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WriteRateThrottle(_Throttle):
    """Requests that change something, per user: stricter than reads. A view may count its writes
    under another scope instead (`write_throttle_scope`): labeling, where each example takes two
    writes (next, submit) and a labeler's pace is the point."""

    scope = "write"

    def __init__(self):
        pass  # the rate depends on the view, known only in allow_request

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        self.scope = getattr(view, "write_throttle_scope", None) or "write"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self._user_or_address(request)}


class ScopedWriteRateThrottle(_Throttle):
    """Writes of a view that names a `throttle_scope` (release creation, imports), per user: each
    queues background work, so they get the strictest rates."""

    scope_attr = "throttle_scope"

    def __init__(self):
        pass  # the rate depends on the view, known only in allow_request

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope or request.method in SAFE_METHODS:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self._user_or_address(request)}


def login_lockout_response(request, original_response=None, credentials=None):
    """What django-axes answers while an account or an address is locked out (429): the login
    page, with the time left. Every attempt during the lockout restarts it, so it is always the
    whole cool-off."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    form = AuthenticationForm(request, data=request.POST or None)
    context = {"form": form, "lockout_minutes": minutes, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
