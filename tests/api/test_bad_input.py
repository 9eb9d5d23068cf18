"""Bad input answers 400 (or 404) with a message, never 500, and writes nothing: crafted cursors
(404: a page that does not exist),
deeply nested JSON, NUL and lone surrogates in JSON strings, NUL in paths and query strings, and
request bodies in a media type the endpoint does not take."""

import base64
import json

import pytest

from consistency.releases.models import DatasetRelease

from .conftest import token_client

BASE = "/api/v1/projects/support"


@pytest.fixture
def manager_api(manager):
    return token_client(manager)


def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("examples", "p=abc"),
        ("examples", "p=1.5"),
        ("examples", "p=99999999999999999999999"),
        ("examples", "p=%00"),
        ("examples", "r=1&p=-"),
        ("annotations", "p=not-a-date"),
        ("annotations", "p=2024-13-45T99:00:00"),
        ("disagreements", "p=1%00"),
    ],
)
def test_a_crafted_cursor_is_a_404(api_data, api_disagreements, manager_api, path, query):
    ordering = {"annotations": "created_at"}.get(path, "id")
    response = manager_api.get(f"{BASE}/{path}/", {"cursor": cursor(query), "ordering": ordering})
    assert response.status_code == 404, response.content
    assert "Invalid cursor" in response.json()["detail"]


def test_a_cursor_that_is_not_base64_is_a_404(api_data, manager_api):
    response = manager_api.get(f"{BASE}/examples/", {"cursor": "%%%not base64"})
    assert response.status_code == 404
    assert "Invalid cursor" in response.json()["detail"]


def test_a_genuine_cursor_still_pages(api_data, manager_api):
    first = manager_api.get(f"{BASE}/examples/", {"page_size": 2}).json()
    second = manager_api.get(first["next"]).json()
    assert [item["external_id"] for item in second["results"]] == ["a-2", "a-3"]


def nested(depth: int) -> str:
    return '{"policy": {"seed": ' + "[" * depth + "1" + "]" * depth + "}}"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_json_body_nested_deeply_is_a_400(api_data, manager_api, depth):
    response = manager_api.post(f"{BASE}/releases/", nested(depth), content_type="application/json")
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
    assert not DatasetRelease.objects.exists()


def test_json_nested_within_the_limit_is_parsed(api_data, manager_api):
    body = '{"verdict": "exclude", "rationale": "x", "guideline_gap": ' + "[" * 30 + "]" * 30 + "}"
    response = manager_api.post(
        f"{BASE}/disagreements/999999/resolve/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "guideline_gap" in response.json()  # parsed, then refused by the serializer


@pytest.mark.parametrize(
    "body",
    [
        '{"policy": {"seed": "a\\u0000b"}}',
        '{"policy": {"stratify_field": "\\ud800"}}',
        '{"policy": {"sources": ["gold", "\\udfff"]}}',
        '{"policy": {"seed\\u0000": "x"}}',
        '{"tag": "v\\u0000"}',
    ],
)
def test_nul_or_a_lone_surrogate_in_a_json_string_is_a_400(api_data, manager_api, body):
    response = manager_api.post(f"{BASE}/releases/", body, content_type="application/json")
    assert response.status_code == 400
    assert "character" in json.dumps(response.json())
    assert not DatasetRelease.objects.exists()


def test_a_paired_surrogate_escape_is_an_ordinary_character(api_data, manager_api):
    response = manager_api.post(
        f"{BASE}/releases/",
        '{"tag": "v1", "policy": {"seed": "\\ud83d\\ude00"}}',
        content_type="application/json",
    )
    assert response.status_code == 202
    assert DatasetRelease.objects.get().policy["seed"] == "\U0001f600"


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/releases/v%00/",
        f"{BASE}/releases/v1%00/download/jsonl/",
        f"{BASE}/releases/diff/?old=v1%00&new=v1",
        f"{BASE}/guideline-versions/diff/?a=1%00&b=1",
        f"{BASE}/annotations/?rater=%00",
        f"{BASE}/examples/?external_id=a%00",
        f"{BASE}%00/",
    ],
)
def test_nul_in_an_api_path_or_query_is_a_json_400(api_data, api_releases, manager_api, url):
    response = manager_api.get(url)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/projects/support/releases/v%00/",
        "/projects/support/releases/diff/?old=v%00&new=v1",
        "/projects/support/guidelines/diff/?a=%00",
        "/projects/support%00/",
    ],
)
def test_nul_in_a_page_path_or_query_is_a_400_page(api_data, api_releases, manager_client, url):
    response = manager_client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_multipart_body_never_cuts_a_release(api_data, manager_api):
    boundary = "XyZ"
    malformed = f'--{boundary}\r\nContent-Disposition: form-data; name="tag"\r\n\r\nv9\r\n--{boundary}'
    response = manager_api.post(
        f"{BASE}/releases/", malformed, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 415
    response = manager_api.post(f"{BASE}/releases/", {"tag": "v9"})  # a well-formed form, too
    assert response.status_code == 415
    assert not DatasetRelease.objects.exists()


def test_a_json_body_that_is_not_an_object_is_a_400(api_data, manager_api):
    for body in ("[]", '"v1"', "null", "1"):
        response = manager_api.post(f"{BASE}/releases/", body, content_type="application/json")
        assert response.status_code == 400, body
    assert not DatasetRelease.objects.exists()
