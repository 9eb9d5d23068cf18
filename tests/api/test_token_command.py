"""`manage.py create_api_token USERNAME --name NAME`: prints a new working key alone on stdout;
refuses unknown and inactive users and a blank name."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from core.models import ApiToken
from tests.factories import UserFactory


def create_token(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_key_is_printed_on_its_own_line_and_works_as_that_user(manager, project):
    out, err = create_token("manager", "--name", "nightly export")
    assert out.endswith("\n")
    key = out.strip()
    assert out == key + "\n"  # one line, nothing else: `TOKEN=$(manage.py create_api_token ...)`
    assert "nightly export" in err
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/projects/support/")
    assert response.status_code == 200
    assert response.json()["role"] == "manager"
    token = ApiToken.objects.get(user=manager)
    assert token.name == "nightly export"
    assert key not in token.key_digest  # only the digest is stored


def test_each_run_makes_a_new_token(manager):
    first, _ = create_token("manager", "--name", "a")
    second, _ = create_token("manager", "--name", "b")
    assert first != second
    assert ApiToken.objects.filter(user=manager, revoked_at__isnull=True).count() == 2


@pytest.mark.django_db
def test_an_unknown_user_is_an_error():
    with pytest.raises(CommandError, match="There is no user named 'nobody'"):
        create_token("nobody", "--name", "ci")
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_an_inactive_user_is_an_error():
    UserFactory(username="gone", is_active=False)
    with pytest.raises(CommandError, match="'gone' is inactive"):
        create_token("gone", "--name", "ci")
    assert not ApiToken.objects.exists()


def test_a_blank_name_is_an_error(manager):
    with pytest.raises(CommandError, match="Give the token a name"):
        create_token("manager", "--name", "  ")
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_name_is_required():
    UserFactory(username="maya")
    with pytest.raises(CommandError, match="--name"):
        create_token("maya")
