"""The API's HTTP contract beyond each endpoint's data: JSON 404 for any unknown /api/ address,
no caching of private answers, 405 for methods an endpoint does not take, and 400 for query
parameters it does not know or cannot read."""

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from consistency.releases.models import DatasetRelease

from .conftest import token_client

BASE = "/api/v1/projects/support"


@pytest.fixture
def manager_api(manager):
    return token_client(manager)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/nothing-here/",
        "/api/v2/projects/",
        "/api/v1/projects/support/nothing-here/",
        "/api/v1/projects/not a slug!/",  # the slug converter refuses it: no route at all
        "/api/v1/projects/%C3%A9t%C3%A9/labels/",
        "/api/v1/projects/support/examples/not-a-number/",
        "/api/",
    ],
)
def test_unknown_api_addresses_are_a_json_404(api_data, manager_api, url):
    for client in (manager_api, token_client(api_data.other_project.memberships.get().user)):
        response = client.get(url)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}
    response = manager_api.post(url, {}, content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")


def test_an_api_address_without_its_trailing_slash_is_redirected(api_data, manager_api):
    response = manager_api.get("/api/v1/projects/support/labels?page=1")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/projects/support/labels/?page=1"
    response = manager_api.post("/api/v1/projects/support/releases", {}, content_type="application/json")
    assert response.status_code == 404
    assert "/api/v1/projects/support/releases/" in response.json()["detail"]


def test_anonymous_callers_get_the_same_json_404(client):
    response = client.get("/api/v1/projects/not a slug!/")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")


def test_api_answers_are_never_stored(api_data, api_releases, manager_api, client):
    for response in (
        manager_api.get(f"{BASE}/examples/"),
        manager_api.get(f"{BASE}/nothing/"),
        manager_api.get(f"{BASE}/examples/", {"page_size": "x"}),
        client.get(f"{BASE}/labels/"),  # 401
        manager_api.get(f"{BASE}/releases/v1/download/csv/"),
    ):
        assert "no-store" in response["Cache-Control"], response.status_code
        assert "private" in response["Cache-Control"]


def test_release_downloads_from_the_pages_are_never_stored(api_data, api_releases, manager_client):
    response = manager_client.get("/projects/support/releases/v1/download/jsonl/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def _page_routes(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _page_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and not route.startswith(("api/", "admin/", "^api/")) and route:
            yield route


PAGE_VALUES = {"slug": "support", "tag": "v1", "file_format": "jsonl"}


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_pages_refuse_methods_they_do_not_take(api_data, manager_client, method):
    """Every page answers 405 to a method it has no use for, rather than rendering."""
    for route in _page_routes(get_resolver().url_patterns):
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(PAGE_VALUES.get(m.group(1), 1)), route)
        response = getattr(manager_client, method)(url)
        assert response.status_code == 405, f"{method.upper()} {url}: {response.status_code}"
        assert response["Allow"], url


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        ("examples/", {"colour": "red"}, "Unknown query parameter(s): colour"),
        ("examples/", {"page": "2"}, "Unknown query parameter(s): page"),  # a cursor list has no pages
        ("annotations/", {"ratr": "labeler"}, "This endpoint takes: ambiguous, created_after, current"),
        ("labels/", {"ordering": "name"}, "Unknown query parameter(s): ordering"),
        ("", {"verbose": "1"}, "Unknown query parameter(s): verbose"),
        ("disagreements/", {"status": ["open", "resolved"]}, "Give each query parameter once: status"),
        ("guideline-versions/diff/", {"a": 1, "b": 1, "c": 1}, "Unknown query parameter(s): c"),
    ],
)
def test_unknown_or_repeated_query_parameters_are_a_400(api_data, manager_api, path, query, message):
    response = manager_api.get(f"{BASE}/{path}", query)
    assert response.status_code == 400
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("examples/", {"page_size": "0"}, "page_size"),
        ("examples/", {"page_size": "1001"}, "page_size"),
        ("examples/", {"page_size": "ten"}, "page_size"),
        ("labels/", {"page": "first"}, "page"),
        ("labels/", {"page_size": "501"}, "page_size"),
        ("annotations/", {"guideline_version": "v1"}, "guideline_version"),
        ("annotations/", {"ambiguous": "perhaps"}, "ambiguous"),
        ("disagreements/", {"reason": "because"}, "reason"),
        ("disagreements/", {"label": ""}, "label"),
    ],
)
def test_unreadable_query_values_are_a_400(api_data, manager_api, path, query, field):
    response = manager_api.get(f"{BASE}/{path}", query)
    assert response.status_code == 400
    assert field in response.json()


def test_outsiders_learn_nothing_from_query_parameters(api_data, api_clients):
    response = api_clients("token")["outsider"].get(f"{BASE}/examples/", {"colour": "red"})
    assert response.status_code == 404


def test_a_release_tag_already_taken_is_a_409(api_data, api_releases, manager_api):
    response = manager_api.post(f"{BASE}/releases/", {"tag": "v1"}, content_type="application/json")
    assert response.status_code == 409
    assert "already has a release tagged 'v1'" in response.json()["detail"]


def test_downloading_a_release_that_is_not_ready_is_a_409(api_data, manager_api):
    created = manager_api.post(f"{BASE}/releases/", {"tag": "later"}, content_type="application/json")
    assert created.status_code == 202
    DatasetRelease.objects.filter(tag="later").update(status=DatasetRelease.Status.BUILDING)
    response = manager_api.get(f"{BASE}/releases/later/download/jsonl/")
    assert response.status_code == 409
    assert response.json() == {"detail": "The release is not ready yet."}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tag": "r1", "colour": "red"}, "colour"),
        ({"policy": {"sources": ["gold"], "speed": "fast"}}, "speed"),
        ({"policy": {"sources": []}}, "sources"),
        ({"policy": {"sources": ["oracle"]}}, "sources"),
        ({"policy": {"ratios": [0.5, 0.5]}}, "ratios"),
        ({"policy": {"min_agreement": 2}}, "min_agreement"),
        ({"policy": {"exclude_ambiguous": "maybe"}}, "exclude_ambiguous"),
        ({"policy": "defaults"}, "policy"),
    ],
)
def test_a_release_body_outside_its_schema_is_a_400_naming_the_field(api_data, manager_api, body, field):
    response = manager_api.post(f"{BASE}/releases/", body, content_type="application/json")
    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert not DatasetRelease.objects.exists()


def test_release_rules_the_schema_cannot_state_are_a_400_too(api_data, manager_api):
    for policy, message in (
        ({"ratios": [0.5, 0.5, 0.5]}, "sum to 1"),
        ({"stratify_field": "no-such-field"}, "No example has the metadata field 'no-such-field'"),
    ):
        response = manager_api.post(f"{BASE}/releases/", {"policy": policy}, content_type="application/json")
        assert response.status_code == 400
        assert message in response.json()["detail"]
    assert not DatasetRelease.objects.exists()
