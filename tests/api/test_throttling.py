"""API rate limits: every request per user (token and session counted together) and per address
(many tokens do not multiply it), writes per user, and writes that queue background work
(release creation, imports) per scope; a 429 says when to come back (Retry-After)."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from consistency.releases.models import DatasetRelease

from .conftest import session_client, token_client

BASE = "/api/v1/projects/support"
UNLIMITED = "1000000/min"


@pytest.fixture
def rates(settings):
    """`rates(user=..., ...)`: these limits for the test, every other scope unlimited."""
    cache.clear()

    def set_rates(**limits):
        settings.CONCORD_API_THROTTLE_RATES = {
            scope: limits.get(scope, UNLIMITED)
            for scope in ("user", "address", "write", "labeling", "releases", "imports")
        }

    yield set_rates
    cache.clear()


def test_each_user_has_a_request_rate_across_token_and_session(api_data, rates, manager, sme):
    rates(user="3/min")
    by_token, by_session = token_client(manager), session_client(manager)
    assert [by_token.get(f"{BASE}/labels/").status_code for _ in range(2)] == [200, 200]
    assert by_session.get(f"{BASE}/labels/").status_code == 200
    refused = by_token.get(f"{BASE}/labels/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"]
    assert token_client(sme).get(f"{BASE}/labels/").status_code == 200  # someone else is not held up


def test_each_address_has_a_request_rate_whoever_calls(api_data, rates, manager, sme, labeler):
    rates(address="3/min")
    callers = [token_client(user) for user in (manager, sme, labeler)]
    assert [c.get(f"{BASE}/labels/", REMOTE_ADDR="10.0.0.5").status_code for c in callers] == [200] * 3
    assert callers[0].get(f"{BASE}/labels/", REMOTE_ADDR="10.0.0.5").status_code == 429
    assert callers[0].get(f"{BASE}/labels/", REMOTE_ADDR="10.0.0.6").status_code == 200


def test_writes_have_a_stricter_rate_than_reads(api_data, api_disagreements, rates, sme):
    rates(write="2/min")
    api = token_client(sme)
    url = f"{BASE}/disagreements/{api_disagreements.open.pk}/resolve/"
    for _ in range(2):
        assert api.post(url, {}, content_type="application/json").status_code == 400  # counted all the same
    assert api.post(url, {}, content_type="application/json").status_code == 429
    assert api.get(f"{BASE}/disagreements/").status_code == 200


def test_release_creation_has_its_own_rate(api_data, rates, manager, sme):
    rates(releases="2/hour")
    api = token_client(manager)
    for tag in ("r1", "r2"):
        assert api.post(f"{BASE}/releases/", {"tag": tag}, content_type="application/json").status_code == 202
    refused = api.post(f"{BASE}/releases/", {"tag": "r3"}, content_type="application/json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 60
    assert sorted(DatasetRelease.objects.values_list("tag", flat=True)) == ["r1", "r2"]
    assert api.get(f"{BASE}/releases/").status_code == 200
    assert (
        token_client(sme)
        .post(f"{BASE}/releases/", {"tag": "s1"}, content_type="application/json")
        .status_code
        == 202
    )


def test_imports_have_their_own_rate(api_data, rates, manager):
    rates(imports="1/hour")
    api = token_client(manager)

    def upload():
        rows = SimpleUploadedFile("rows.csv", b"id,text\nm-1,hello\n", content_type="text/csv")
        return api.post(f"{BASE}/examples/import/", {"file": rows})

    assert upload().status_code == 202
    assert upload().status_code == 429
    assert api.post(f"{BASE}/releases/", {}, content_type="application/json").status_code == 202


def test_the_address_behind_a_trusted_proxy(api_data, rates, settings, manager):
    rates(address="1/min")
    api = token_client(manager)
    settings.CONCORD_PROXY_COUNT = 1
    proxied = {"REMOTE_ADDR": "127.0.0.1"}
    assert api.get(f"{BASE}/labels/", HTTP_X_FORWARDED_FOR="10.0.0.1", **proxied).status_code == 200
    assert api.get(f"{BASE}/labels/", HTTP_X_FORWARDED_FOR="10.0.0.2", **proxied).status_code == 200
    # a client cannot pick its address by sending the header itself: the proxy appends the real one
    spoofed = {"HTTP_X_FORWARDED_FOR": "1.2.3.4, 10.0.0.1", **proxied}
    assert api.get(f"{BASE}/labels/", **spoofed).status_code == 429
    settings.CONCORD_PROXY_COUNT = 0  # no proxy: the header is the client's own words, ignored
    assert api.get(f"{BASE}/labels/", HTTP_X_FORWARDED_FOR="10.0.0.3", **proxied).status_code == 200
    assert api.get(f"{BASE}/labels/", HTTP_X_FORWARDED_FOR="10.0.0.4", **proxied).status_code == 429


def test_labeling_writes_count_under_their_own_rate_not_the_write_rate(project, rates, labeler, manager):
    """Two writes per example (next, submit): a labeler's pace must not run into the general
    write rate, and the labeling rate still stops a runaway script."""
    from tests.factories import ExampleFactory

    ExampleFactory(project=project)
    rates(write="1/min", labeling="3/min")
    api = token_client(labeler)
    answers = [api.post(f"{BASE}/assignments/next/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    managing = token_client(manager)
    assert (
        managing.patch(f"{BASE}/", {"lease_minutes": 20}, content_type="application/json").status_code == 200
    )
    assert (
        managing.patch(f"{BASE}/", {"lease_minutes": 25}, content_type="application/json").status_code == 429
    )


def test_a_rate_lets_its_count_through_at_once_then_one_each_share_of_the_period(rates, manager):
    """count/period: `count` requests at once, then one every period / count (not a new burst
    when a fixed minute turns); what is kept per limit is one number whatever the rate, and a
    value in the old form (DRF's list of request times) counts as nothing."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    from core.throttling import ApiRateThrottle

    rates(user="3/min")
    clock = [1000.0]

    class Throttle(ApiRateThrottle):
        timer = staticmethod(lambda: clock[0])

    request = Request(RequestFactory().get("/api/v1/projects/"))
    request.user = manager

    def allowed() -> bool:
        return Throttle().allow_request(request, view=None)

    cache.set(f"rate_user_user-{manager.pk}", [999.0] * 50, 60)  # the old form: ignored
    assert [allowed() for _ in range(4)] == [True, True, True, False]
    throttle = Throttle()
    assert not throttle.allow_request(request, view=None)
    assert throttle.wait() == pytest.approx(20.0)  # 60 s / 3
    clock[0] += 19.0
    assert not allowed()
    clock[0] += 1.0
    assert [allowed(), allowed()] == [True, False]
    clock[0] += 60.0  # a whole period idle: the full count again, no more
    assert [allowed() for _ in range(4)] == [True, True, True, False]
    assert isinstance(cache.get(f"rate_user_user-{manager.pk}"), float)


def test_a_high_rate_lets_exactly_its_count_through_at_once(rates, manager):
    """600 steps of 0.1 s add up to a hair over 60 s in floating point: the 600th still passes."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    from core.throttling import ApiRateThrottle

    rates(user="600/min")

    class Throttle(ApiRateThrottle):
        timer = staticmethod(lambda: 5000.0)

    request = Request(RequestFactory().get("/api/v1/projects/"))
    request.user = manager
    answers = [Throttle().allow_request(request, view=None) for _ in range(601)]
    assert answers == [True] * 600 + [False]
