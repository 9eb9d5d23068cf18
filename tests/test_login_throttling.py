"""Login throttling (django-axes): too many failed logins lock the account from any address and
the address for any account, on the login page and the admin's alike; the page says for how
long; an operator unlocks with a command; and a password is hashed at most once per attempt,
never while locked out."""

import pytest
from django.contrib.auth import base_user
from django.core.management import call_command

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def lockout_after_three(settings):
    settings.AXES_FAILURE_LIMIT = 3


@pytest.fixture
def hashing(monkeypatch):
    """Passwords hashed by user models: checked against an account, or hashed for an unknown
    username (Django does that so both cost the same time)."""
    calls = []
    for name in ("check_password", "make_password"):
        original = getattr(base_user, name)

        def counted(*args, _original=original, **kwargs):
            calls.append(1)
            return _original(*args, **kwargs)

        monkeypatch.setattr(base_user, name, counted)
    return calls


def attempt(client, username, password, address="10.0.0.1", url=LOGIN):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_an_account_is_locked_after_three_failures_from_any_addresses(client, hashing):
    UserFactory(username="ada")
    for n, address in enumerate(["10.0.0.1", "10.0.0.2"]):
        response = attempt(client, "ada", "wrong", address)
        assert response.status_code == 200, n
        assert "didn't match" in response.content.decode()
    hashing.clear()
    response = attempt(client, "ada", "wrong", "10.0.0.3")  # the third failure locks
    assert response.status_code == 429
    assert hashing == [1]

    hashing.clear()
    response = attempt(client, "ada", PASSWORD, "10.0.0.4")  # even the right password, elsewhere
    assert response.status_code == 429
    assert "Too many failed attempts: try again in 15 minutes." in response.content.decode()
    assert hashing == []  # refused before any password is hashed
    assert "_auth_user_id" not in client.session


def test_an_address_is_locked_after_three_failures_for_any_accounts(client):
    UserFactory(username="grace")
    for name in ("nobody", "someone", "anyone"):
        attempt(client, name, "guess", "10.9.9.9")
    assert attempt(client, "grace", PASSWORD, "10.9.9.9").status_code == 429
    response = attempt(client, "grace", PASSWORD, "10.1.1.1")  # grace from her own address
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


def test_the_admin_login_shares_the_lockout(client, hashing):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    for _ in range(3):
        attempt(client, "root", "wrong", url=ADMIN_LOGIN)
    hashing.clear()
    response = attempt(client, "root", PASSWORD, "10.7.7.7", url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert hashing == []
    assert attempt(client, "root", PASSWORD, "10.7.7.7", url=LOGIN).status_code == 429


def test_a_password_is_hashed_once_per_attempt(client, hashing):
    UserFactory(username="lin")
    hashing.clear()
    attempt(client, "lin", "wrong")
    assert len(hashing) == 1
    attempt(client, "nobody-at-all", "wrong")  # an unknown user costs the same
    assert len(hashing) == 2
    assert attempt(client, "lin", PASSWORD, "10.3.3.3").status_code == 302
    assert len(hashing) == 3


def test_the_unlock_command_lets_the_account_in_again(client):
    UserFactory(username="ada")
    for _ in range(3):
        attempt(client, "ada", "wrong", "10.0.0.8")
    assert attempt(client, "ada", PASSWORD, "10.0.0.9").status_code == 429
    call_command("axes_reset_username", "ada")
    assert attempt(client, "ada", PASSWORD, "10.0.0.9").status_code == 302


def test_the_lockout_lasts_the_configured_cool_off(client, settings):
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    UserFactory(username="ada")
    for _ in range(3):
        attempt(client, "ada", "wrong")
    response = attempt(client, "ada", PASSWORD)
    assert "try again in 1 minute." in response.content.decode()
