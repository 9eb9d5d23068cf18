"""The token page (/account/tokens/) and token authentication: a key is shown once, works only
as its own user, stops working when revoked; session POSTs need the CSRF token."""

import re

import pytest
from django.test import Client

from core.models import ApiToken

from .conftest import token_client

PROJECT_URL = "/api/v1/projects/support/"


def _create(client, name="nightly export"):
    response = client.post("/account/tokens/", {"name": name})
    assert response.status_code == 201
    match = re.search(r'id="new-token-key">(concord_[^<]+)<', response.content.decode())
    assert match, "the new key is on the page"
    return match.group(1), response


def test_a_new_token_is_shown_once_and_stored_only_as_a_digest(manager_client, manager):
    key, response = _create(manager_client)
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=manager)
    assert token.name == "nightly export"
    assert key not in token.key_digest
    assert key.startswith(token.key_prefix)
    page = manager_client.get("/account/tokens/").content.decode()
    assert "nightly export" in page
    assert key not in page  # never shown again


def test_the_token_authenticates_as_its_user_with_their_roles(manager_client, labeler, project):
    key, _ = _create(manager_client)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(PROJECT_URL).json()["role"] == "manager"
    assert api.get("/api/v1/projects/support/examples/").status_code == 200
    assert ApiToken.objects.get().last_used_at is not None
    # a labeler's token gives a labeler's access, not more
    labeler_api = token_client(labeler)
    assert labeler_api.get(PROJECT_URL).json()["role"] == "labeler"
    assert labeler_api.get("/api/v1/projects/support/examples/").status_code == 403


def test_a_revoked_token_is_refused_with_401(manager_client, manager):
    key, _ = _create(manager_client)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(PROJECT_URL).status_code == 200
    token = ApiToken.objects.get(user=manager)
    response = manager_client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    response = api.get(PROJECT_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in manager_client.get("/account/tokens/").content.decode()


def test_several_tokens_are_revoked_one_by_one(manager_client, manager):
    first, _ = _create(manager_client, "first")
    second, _ = _create(manager_client, "second")
    manager_client.post(f"/account/tokens/{ApiToken.objects.get(name='first').pk}/revoke/")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {first}").get(PROJECT_URL).status_code == 401
    assert Client(HTTP_AUTHORIZATION=f"Bearer {second}").get(PROJECT_URL).status_code == 200


def test_nobody_can_revoke_or_see_another_users_token(manager_client, labeler, project):
    token_client(labeler)
    labeler_token = ApiToken.objects.get(user=labeler)
    assert manager_client.post(f"/account/tokens/{labeler_token.pk}/revoke/").status_code == 404
    labeler_token.refresh_from_db()
    assert labeler_token.is_active
    assert labeler_token.key_prefix not in manager_client.get("/account/tokens/").content.decode()


@pytest.mark.parametrize(
    "header", ["Bearer concord_not-a-real-key", "Bearer", "Bearer a b", "Bearer wrongprefix"]
)
def test_malformed_or_unknown_tokens_get_401(project, header):
    response = Client(HTTP_AUTHORIZATION=header).get(PROJECT_URL)
    assert response.status_code == 401


def test_a_token_needs_a_name(manager_client):
    response = manager_client.post("/account/tokens/", {"name": "  "})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_token_page_needs_a_login(client):
    response = client.get("/account/tokens/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_session_posts_need_the_csrf_token(manager, project):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(manager)
    # the token page refuses a POST without the CSRF token
    assert browser.post("/account/tokens/", {"name": "x"}).status_code == 403
    # and so does the API when the caller is authenticated by the session cookie
    upload_url = "/api/v1/projects/support/examples/import/"
    response = browser.post(upload_url, {"format": "csv"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    # with the token from a page, the same POST goes through to validation
    page = browser.get("/account/tokens/")
    csrf = page.cookies["csrftoken"].value
    response = browser.post(upload_url, {"format": "csv"}, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 400
    assert "file" in response.json()


def test_token_requests_need_no_csrf_token(manager, project):
    api = token_client(manager)
    api.handler.enforce_csrf_checks = True
    response = api.post("/api/v1/projects/support/examples/import/", {"format": "csv"})
    assert response.status_code == 400  # reached validation: no CSRF needed without a session
