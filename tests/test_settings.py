"""Settings fail closed: every entry point (manage.py, the Celery worker, gunicorn) defaults to the
production settings, which refuse to start without a secret key and hosts; `.env` is read for the
variables the environment does not set; production passes Django's deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_file_parse

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GOOD_SECRET = "x" * 20 + "-production-secret-for-the-settings-test-0123456789"
NO_SECRET = "SECRET_KEY is not set"
NO_HOSTS = "ALLOWED_HOSTS is not set"
# Variables a developer's shell or the test run may hold, which would hide what is being tested.
CLEARED = {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "CONCORD_ENV_FILE"}


@pytest.fixture
def env(tmp_path):
    """The environment of a fresh shell: no settings module named, and an empty .env file."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return {**base, "CONCORD_ENV_FILE": str(empty), "CONCORD_VAR_DIR": str(tmp_path / "var")}


def run(command: list[str], env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], env)


ENTRY_POINTS = {
    "manage.py": lambda: [sys.executable, "manage.py", "migrate", "--noinput"],
    "celery worker": lambda: [str(BIN / "celery"), "-A", "config", "worker", "--pool=solo"],
    "gunicorn": lambda: [
        str(BIN / "gunicorn"),
        "config.wsgi",
        "--bind",
        "127.0.0.1:0",
        "--no-control-socket",
    ],
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_refuses_to_start_without_a_secret_key(entry_point, env):
    result = run(ENTRY_POINTS[entry_point](), {**env, "ALLOWED_HOSTS": "concord.example.org"})
    assert result.returncode != 0
    assert NO_SECRET in result.stderr
    assert "config.settings.production, the default" in result.stderr


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_refuses_to_start_without_allowed_hosts(entry_point, env):
    result = run(ENTRY_POINTS[entry_point](), {**env, "SECRET_KEY": GOOD_SECRET})
    assert result.returncode != 0
    assert NO_HOSTS in result.stderr


def test_a_command_gets_one_clear_line_not_a_traceback(env):
    result = manage("create_api_token", "maya", "--name", "ci", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Concord cannot start: {NO_SECRET}")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("secret", ["short-secret", "django-insecure-" + "x" * 50])
def test_production_refuses_a_weak_secret_key(secret, env):
    result = manage("check", env={**env, "SECRET_KEY": secret, "ALLOWED_HOSTS": "concord.example.org"})
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_production_reads_dot_env_without_overriding_the_environment(env, tmp_path):
    dot_env = tmp_path / ".env"
    dot_env.write_text(
        f"# production\nSECRET_KEY='{GOOD_SECRET}'\nexport ALLOWED_HOSTS=from-dot-env.example.org\n"
        "CONCORD_IMPORT_MAX_TEXT_CHARS=1234  # shorter texts\n"
    )
    show = "from django.conf import settings as s; print(s.ALLOWED_HOSTS, s.CONCORD_IMPORT_MAX_TEXT_CHARS)"
    env = {**env, "CONCORD_ENV_FILE": str(dot_env)}
    result = manage("shell", "-v", "0", "-c", show, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['from-dot-env.example.org']", "1234"]
    env["ALLOWED_HOSTS"] = "from-the-environment.example.org"
    result = manage("shell", "-v", "0", "-c", show, env=env)
    assert result.stdout.split() == ["['from-the-environment.example.org']", "1234"]


def test_a_named_env_file_must_exist(env, tmp_path):
    result = manage("check", env={**env, "CONCORD_ENV_FILE": str(tmp_path / "missing.env")})
    assert result.returncode != 0
    assert "missing.env, which is not a file" in result.stderr


def test_env_file_lines():
    parsed = env_file_parse(
        "\n".join(
            [
                "# a comment",
                "",
                "PLAIN=value",
                "export EXPORTED = spaced ",
                "EMPTY=",
                "HASH_INSIDE=a#b",
                "COMMENTED=value # a comment",
                "SINGLE='it has # and spaces'",
                'DOUBLE="$NOT_EXPANDED"',
            ]
        ),
        source=".env",
    )
    assert parsed == {
        "PLAIN": "value",
        "EXPORTED": "spaced",
        "EMPTY": "",
        "HASH_INSIDE": "a#b",
        "COMMENTED": "value",
        "SINGLE": "it has # and spaces",
        "DOUBLE": "$NOT_EXPANDED",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("GOOD=1\nnot a setting", ".env, line 2: expected KEY=VALUE"),
        ("1ABC=1", ".env, line 1: expected KEY=VALUE"),
        ("KEY='unclosed", ".env, line 1: the value of KEY opens a ' quote"),
        ('KEY="a" trailing', '.env, line 1: the value of KEY opens a " quote'),
    ],
)
def test_env_file_errors_name_the_line(text, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env_file_parse(text, source=".env")


def test_production_uses_the_manifest_storage_and_passes_the_deployment_checklist(env):
    env = {**env, "SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "concord.example.org"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    show = "from django.conf import settings as s; print(s.STORAGES['staticfiles']['BACKEND'], s.DEBUG)"
    result = manage("shell", "-v", "0", "-c", show, env=env)
    assert result.stdout.split() == ["whitenoise.storage.CompressedManifestStaticFilesStorage", "False"]


def test_the_documented_env_example_is_a_valid_env_file():
    parsed = env_file_parse((ROOT / ".env.example").read_text(), source=".env.example")
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"} <= parsed.keys()
    assert "DJANGO_SETTINGS_MODULE" not in parsed  # read by the settings, too late to choose them
