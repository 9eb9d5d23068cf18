#!/usr/bin/env python3
"""Production smoke test, run by .ci/run after the tests: Concord started as the README's Production
section says, then used as an operator would use it.

No settings module is named, so the default (production) is what runs, with a fresh SECRET_KEY,
ALLOWED_HOSTS=127.0.0.1, its own PostgreSQL database and Redis database; `check --deploy`,
`migrate`, `collectstatic`, `createsuperuser`, gunicorn (gthread workers) and a real Celery worker.
Requests reach gunicorn as the HTTPS proxy sends them (`X-Forwarded-Proto: https`), so
SECURE_SSL_REDIRECT stays on, as in production. Checks: the login page and a static file answer
200; a CSV uploaded to the import API with a token from `create_api_token` is imported by the
worker; a declared body over the limit and a chunked upload that passes it are refused with 413.
Whatever it started is stopped, and its database dropped, when it ends (also on Ctrl-C).

Usage: .venv/bin/python scripts/production_smoke.py
Environment: SMOKE_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/concord_smoke; the
database is dropped and created), SMOKE_CELERY_BROKER_URL (default redis://127.0.0.1:6379/13).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get("SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/concord_smoke")
BROKER_URL = os.environ.get("SMOKE_CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
IMPORT_LIMIT = 1024 * 1024  # small, so the chunked upload can pass it quickly
ROWS = 500
START = time.monotonic()
CREATE_PROJECT = """
from django.contrib.auth.models import User
from projects.services.projects import project_create
project_create(name="Smoke test", slug="smoke", creator=User.objects.get(username="smoke-admin"))
"""


class SmokeFailure(Exception):
    pass


def say(message: str) -> None:
    print(f"[smoke {time.monotonic() - START:5.1f}s] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Smoke:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="concord-smoke-"))
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.database_created = False
        url = urlsplit(DATABASE_URL)
        self.db_name = url.path.lstrip("/")
        self.db_args = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432)]
        self.db_args += ["-U", url.username or "postgres"]
        self.db_env = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
        if url.password:
            self.db_env["PGPASSWORD"] = url.password
        empty_env_file = self.tmp / "empty.env"
        empty_env_file.write_text("")
        cleared = {"DJANGO_SETTINGS_MODULE", "DEBUG", "CONCORD_REQUIRE_SERVICES"}
        self.env = {k: v for k, v in os.environ.items() if k not in cleared}
        self.env.update(
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1",
            DATABASE_URL=DATABASE_URL,
            CELERY_BROKER_URL=BROKER_URL,
            CONCORD_VAR_DIR=str(self.tmp / "var"),
            PRIVATE_STORAGE_ROOT=str(self.tmp / "private"),
            CONCORD_ENV_FILE=str(empty_env_file),  # a .env in the checkout must not change the test
            CONCORD_IMPORT_MAX_FILE_BYTES=str(IMPORT_LIMIT),
            DJANGO_SUPERUSER_PASSWORD=secrets.token_urlsafe(16),
        )
        self.port = free_port()
        self.token = ""

    # --- processes -----------------------------------------------------------------------
    def run(self, *args: str, env: dict | None = None) -> str:
        result = subprocess.run(
            args, cwd=ROOT, env=env or self.env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise SmokeFailure(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def manage(self, *args: str) -> str:
        return self.run(str(BIN / "python"), "manage.py", *args)

    def start(self, name: str, *args: str) -> None:
        log = (self.tmp / f"{name}.log").open("w")
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, process))

    def logs(self) -> str:
        return "".join(
            f"\n--- {name} log ---\n" + (self.tmp / f"{name}.log").read_text()[-4000:]
            for name, _ in self.processes
        )

    def cleanup(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(
                    process.pid, signal.SIGTERM
                )  # the process group: gunicorn's or celery's children too
        for _name, process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.database_created:
            subprocess.run(
                ["dropdb", "--if-exists", *self.db_args, self.db_name], env=self.db_env, check=False
            )
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- HTTP, as the proxy forwards it ----------------------------------------------------
    def request(
        self, method: str, path: str, body=None, headers: dict | None = None, *, chunked: bool = False
    ):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"X-Forwarded-Proto": "https", **(headers or {})}
        # The server may answer (413) before the whole body is sent: then read that answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response, data

    def api(self, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.request(method, path, headers=headers, **kwargs)

    # --- the steps -------------------------------------------------------------------------
    def prepare(self) -> None:
        say("PostgreSQL and Redis")
        self.run(str(ROOT / "scripts" / "start-services"), env=dict(os.environ))
        subprocess.run(["dropdb", "--if-exists", *self.db_args, self.db_name], env=self.db_env, check=True)
        self.run("createdb", *self.db_args, self.db_name, env=self.db_env)
        self.database_created = True
        say(f"database {self.db_name}: check --deploy, migrate, collectstatic, createsuperuser")
        self.manage("check", "--deploy", "--fail-level", "WARNING")
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        self.manage(
            "createsuperuser", "--noinput", "--username", "smoke-admin", "--email", "smoke@example.org"
        )
        self.manage("shell", "-v", "0", "-c", CREATE_PROJECT)
        self.token = self.manage("create_api_token", "smoke-admin", "--name", "smoke test").strip()
        if not self.token or "\n" in self.token:
            raise SmokeFailure(f"create_api_token printed {self.token!r}, not one key")

    def serve(self) -> None:
        say(f"gunicorn on 127.0.0.1:{self.port} and a Celery worker on {BROKER_URL}")
        self.start(
            "worker", str(BIN / "celery"), "-A", "config", "worker", "--loglevel=INFO", "--concurrency=1",
            "--purge", "--without-gossip", "--without-mingle", f"--hostname=smoke-{os.getpid()}@%h",
        )  # fmt: skip
        self.start(
            "gunicorn", str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--timeout", "60",
            "--keep-alive", "5", "--no-control-socket",
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                self.request("GET", "/accounts/login/")
                return
            except OSError:
                for name, process in self.processes:
                    if process.poll() is not None:
                        raise SmokeFailure(f"{name} exited with {process.returncode}") from None
                if time.monotonic() > deadline:
                    raise SmokeFailure("gunicorn did not answer within 60 s") from None
                time.sleep(0.3)

    def check_pages(self) -> None:
        response, body = self.request("GET", "/accounts/login/")
        expect(response.status == 200, f"login page: HTTP {response.status}")
        expect("max-age=" in (response.getheader("Strict-Transport-Security") or ""), "no HSTS header")
        match = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', body.decode())
        expect(match is not None, "the login page names no hashed stylesheet")
        response, body = self.request("GET", match.group(1))
        expect(response.status == 200 and b"{" in body, f"{match.group(1)}: HTTP {response.status}")
        say(f"login page 200, {match.group(1)} 200")

    def check_import(self) -> None:
        rows = "".join(f"s-{i},Message {i} about my invoice\n" for i in range(ROWS))
        boundary = secrets.token_hex(8)
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tickets.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\nid,text\n{rows}\r\n--{boundary}--\r\n"
        ).encode()
        multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        response, data = self.api(
            "POST", "/api/v1/projects/smoke/examples/import/", body=body, headers=multipart
        )
        expect(response.status == 202, f"import upload: HTTP {response.status} {data[:300]!r}")
        status_path = urlsplit(json.loads(data)["url"]).path
        deadline = time.monotonic() + 60
        while True:
            response, data = self.api("GET", status_path)
            expect(response.status == 200, f"{status_path}: HTTP {response.status}")
            batch = json.loads(data)
            if batch["status"] in {"succeeded", "failed"} or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        expect(batch["status"] == "succeeded", f"the import did not succeed: {batch}")
        expect(batch["rows_created"] == ROWS, f"{batch['rows_created']} rows created, not {ROWS}")
        say(f"import through the API with a create_api_token key: {ROWS} rows, {batch['status']}")

    def check_limits(self) -> None:
        path = "/api/v1/projects/smoke/examples/import/"
        multipart = {"Content-Type": "multipart/form-data; boundary=x"}
        # A declared 3 GiB body: refused before any of it is sent (none is).
        headers = {**multipart, "Content-Length": str(3 * 2**30)}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.putrequest("POST", path)
        for name, value in {
            "X-Forwarded-Proto": "https",
            "Authorization": f"Bearer {self.token}",
            **headers,
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        connection.close()
        expect(response.status == 413, f"3 GiB Content-Length: HTTP {response.status}, not 413")

        # A chunked upload (no Content-Length) of four times the limit: aborted once it passes it.
        def chunks():
            yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\ntext\n'
            for _ in range(4 * IMPORT_LIMIT // 65536):
                yield b"y" * 65535 + b"\n"
            yield b"\r\n--x--\r\n"

        response, data = self.api("POST", path, body=chunks(), headers=multipart, chunked=True)
        expect(
            response.status == 413, f"chunked upload over the limit: HTTP {response.status} {data[:200]!r}"
        )
        say("declared and chunked bodies over the limit: 413")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def main() -> int:
    smoke = Smoke()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below
    try:
        smoke.prepare()
        smoke.serve()
        smoke.check_pages()
        smoke.check_import()
        smoke.check_limits()
    except SmokeFailure as exc:
        print(f"PRODUCTION SMOKE TEST FAILED: {exc}{smoke.logs()}", file=sys.stderr, flush=True)
        return 1
    finally:
        smoke.cleanup()
    say("production smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
