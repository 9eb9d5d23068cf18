"""The settings of the limits (API rates, who may create projects) refuse to start on a value
they cannot read, instead of running without a limit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def check(**env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONCORD_API_THROTTLE_RATES": "user:600/min"}, "write scope=rate"),
        (
            {"CONCORD_PROJECT_CREATORS": "anyone"},
            "CONCORD_PROJECT_CREATORS must be staff, managers or everyone",
        ),
        ({"CONCORD_PROXY_COUNT": "one"}, "CONCORD_PROXY_COUNT must be an integer"),
    ],
)
def test_an_unreadable_limit_refuses_to_start(env, message):
    result = check(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_rates_from_the_environment_replace_the_defaults():
    from config.settings.base import env_rates

    os.environ["CONCORD_TEST_RATES"] = "user=5/min, releases=1/hour"
    try:
        rates = env_rates("CONCORD_TEST_RATES", {"user": "600/min", "write": "60/min"})
    finally:
        del os.environ["CONCORD_TEST_RATES"]
    assert rates == {"user": "5/min", "write": "60/min", "releases": "1/hour"}
