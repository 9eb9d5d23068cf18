"""Limits on how fast one client may knock: the client's address behind trusted proxies, the API's
rate limits (per user or token, per address, stricter for writes and for named expensive writes),
and the login page shown while django-axes holds an account or address locked out."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache as default_cache
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


def _rate(scope: str) -> tuple[int | None, int | None]:
    """(requests, seconds) of a scope's rate, read from settings.CONCORD_API_THROTTLE_RATES when a
    request is checked, not when the module is imported, so an operator's settings and the
    tests' both take effect."""
    rates = settings.CONCORD_API_THROTTLE_RATES
    if scope not in rates:  # a scope nobody configured is a mistake, not "unlimited"
        raise ImproperlyConfigured(f"CONCORD_API_THROTTLE_RATES has no rate for {scope!r}.")
    rate = rates[scope]
    if rate is None:
        return None, None
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # as DRF reads a rate: "600/min", "20/hour"


def _limits(request, view) -> list[tuple[str, str]]:
    """(scope, who) of every limit a request counts against:
    - `user`: every request of one user, whether by token or by browser session (anonymous
      callers are counted by address);
    - `address`: every request from one address, whoever sends it (many tokens do not multiply
      the rate);
    - for requests that change something, per user: `write`, stricter than reads, or the view's
      own `write_throttle_scope` instead (labeling, where each example takes two writes, next
      and submit, and a labeler's pace is the point); and the view's `throttle_scope` when it
      names one (release creation, imports: each queues background work, so they get the
      strictest rates)."""
    address = client_address(request)
    user = request.user
    who = f"user-{user.pk}" if user and user.is_authenticated else f"address-{address}"
    found = [("user", who), ("address", address)]
    if request.method not in SAFE_METHODS:
        found.append((getattr(view, "write_throttle_scope", None) or "write", who))
        scope = getattr(view, "throttle_scope", None)
        if scope:
            found.append((scope, who))
    return found


class ApiRateThrottle(throttling.BaseThrottle):
    """Every rate limit of the API in one check, with one cache read for all of them and one write
    per duration (two round trips to Redis instead of two per limit). Each limit of `count`
    requests per `period` is a generic cell rate (GCRA): one number per limit and caller, the time
    at which its allowance would be whole again; a request adds period / count to it and is let
    through while that stays within one period of now. So `count` requests may come at once,
    then one every period / count, and what is kept does not grow with the rate (DRF's sliding
    window kept the time of every request in the period, read and written whole on each
    request). As with one DRF throttle per limit, a request counts against every limit that lets
    it through even when another one refuses it."""

    cache = default_cache
    timer = time.time
    # Not DRF's "throttle_..." keys: those held lists of times, which this reads as nothing.
    cache_format = "rate_%(scope)s_%(ident)s"

    def allow_request(self, request, view) -> bool:
        now = self.timer()
        checks = []
        for scope, who in _limits(request, view):
            count, period = _rate(scope)
            if count is not None:
                checks.append((self.cache_format % {"scope": scope, "ident": who}, count, period))
        stored = self.cache.get_many([key for key, _, _ in checks])
        full_at: dict[str, float] = {}
        writes: dict[int, dict[str, float]] = {}
        self.waits = []
        for key, count, period in checks:
            value = full_at.get(key, stored.get(key))
            step = period / count
            after = max(value if isinstance(value, float) else now, now) + step
            if after - now > period + 1e-6:  # (1e-6: the sum of `count` steps may round up)
                self.waits.append(after - period - now)
                continue
            full_at[key] = after
            writes.setdefault(period, {})[key] = after
        for period, entries in writes.items():
            self.cache.set_many(entries, period)
        return not self.waits

    def wait(self) -> float | None:
        return max(self.waits, default=None)


def login_lockout_response(request, original_response=None, credentials=None):
    """What django-axes answers while an account or an address is locked out (429): the login
    page, with the time left. Every attempt during the lockout restarts it, so it is always the
    whole cool-off."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    form = AuthenticationForm(request, data=request.POST or None)
    context = {"form": form, "lockout_minutes": minutes, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
