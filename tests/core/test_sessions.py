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
