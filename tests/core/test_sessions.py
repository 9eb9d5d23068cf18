"""core.sessions: Django's database sessions, read with one prepared statement, load what was
saved and nothing expired, unknown or malformed."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from core.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_a_saved_session_loads_back_and_an_expired_or_unknown_one_is_empty():
    saved = SessionStore()
    saved["answer"] = 42
    saved.save()
    assert SessionStore(session_key=saved.session_key).load() == {"answer": 42}

    Session.objects.filter(session_key=saved.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    expired = SessionStore(session_key=saved.session_key)
    assert expired.load() == {}
    assert expired.session_key is None  # forgotten, as Django's backend does

    for key in ("no-such-session-key-0123456789abcdef", None):
        assert SessionStore(session_key=key).load() == {}


def test_a_logged_in_page_keeps_its_session(client, django_user_model):
    from tests.conftest import client_for

    user = django_user_model.objects.create_user("sessioned", password="x-not-a-secret")
    browser = client_for(user)
    assert browser.get("/account/tokens/").status_code == 200
    assert client.get("/account/tokens/").status_code == 302  # no session: to the login page


def _signed_in_with(user, backend: str):
    """A browser whose session names `backend`, as a login through it leaves one."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.test import Client

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = backend
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return browser


def test_a_login_names_the_account_backend_which_reads_the_user_in_one_statement(client, django_user_model):
    from django.contrib.auth import BACKEND_SESSION_KEY
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    django_user_model.objects.create_user("logs-in", password="x-not-a-secret")
    answer = client.post("/accounts/login/", {"username": "logs-in", "password": "x-not-a-secret"})
    assert answer.status_code == 302
    assert client.session[BACKEND_SESSION_KEY] == "core.sessions.AccountBackend"
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/account/tokens/").status_code == 200
    user_reads = [q["sql"] for q in queries.captured_queries if "auth_user" in q["sql"]]
    # Not the ORM's read (FROM "auth_user" WHERE ...): the prepared one (or its text on SQLite).
    assert not [sql for sql in user_reads if 'FROM "auth_user"' in sql]


def test_sessions_signed_in_before_the_account_backend_stay_signed_in(django_user_model):
    user = django_user_model.objects.create_user("earlier", password="x-not-a-secret")
    browser = _signed_in_with(user, "django.contrib.auth.backends.ModelBackend")
    assert browser.get("/account/tokens/").status_code == 200


def test_an_inactive_account_is_signed_out(django_user_model):
    user = django_user_model.objects.create_user("leaving", password="x-not-a-secret")
    browser = _signed_in_with(user, "core.sessions.AccountBackend")
    assert browser.get("/account/tokens/").status_code == 200
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    assert browser.get("/account/tokens/").status_code == 302


def test_a_wrong_password_is_checked_once_and_counted_once(client, django_user_model, monkeypatch):
    """ModelBackend stays listed for older sessions; it must not check a refused login again."""
    from axes.models import AccessAttempt

    user = django_user_model.objects.create_user("mistyped", password="x-not-a-secret")
    checks = []
    original = django_user_model.check_password

    def check_password(self, raw):
        checks.append(raw)
        return original(self, raw)

    monkeypatch.setattr(django_user_model, "check_password", check_password)
    answer = client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    assert answer.status_code == 200  # the form again, with its error
    assert checks == ["wrong"]
    assert AccessAttempt.objects.get(username=user.username).failures_since_start == 1
    right = {"username": user.username, "password": "x-not-a-secret"}
    assert client.post("/accounts/login/", right).status_code == 302
    assert checks == ["wrong", "x-not-a-secret"]
