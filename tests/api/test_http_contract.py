"""The API's HTTP contract beyond each endpoint's data: JSON 404 for any unknown /api/ address,
no caching of private answers, 405 for methods an endpoint does not take, and 400 for query
parameters it does not know or cannot read."""

import pytest

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
