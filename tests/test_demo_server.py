"""`scripts/serve-demo PORT` (what `make demo PORT=...` runs) serves Concord on that port with the demo
settings: DEBUG off, so an unknown URL shows Concord's own 404 page, and static files still load."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a loopback URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def demo_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG"}}
    env.update(CONCORD_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="config.settings.demo")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    port = free_port()
    del env["DJANGO_SETTINGS_MODULE"]  # serve-demo names its settings itself
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        ["scripts/serve-demo", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(base + "/accounts/login/")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the demo server did not start:\n" + (tmp_path / "serve.log").read_text())
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the script, its worker and its server
        process.wait(timeout=20)
        log.close()


def test_the_demo_serves_on_the_given_port_with_concords_own_404_page(demo_server):
    status, body = fetch(demo_server + "/no-such-page/")
    assert status == 404
    assert "<h1>Not found</h1>" in body
    assert "Back to my projects" in body
    assert "URLconf" not in body  # Django's technical 404 page lists the URL patterns

    status, body = fetch(demo_server + "/accounts/login/")
    assert status == 200
    for asset in ("/static/app.css", "/static/vendor/htmx.min.js"):
        assert fetch(demo_server + asset)[0] == 200, asset
