"""Benchmark: labelers over HTTP (next example, then submit) against a trivial endpoint.

Usage (PostgreSQL only; the database is created and migrated if missing):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench_labeling \\
    .venv/bin/python bench/bench_labeling.py [--examples 400000] [--labelers 50] [--seconds 15]

Fills one project with `--examples` examples and about 2.3 annotations per example (400,000
examples give ~920,000 annotations), prints EXPLAIN ANALYZE of the next-example query, then
serves Concord with gunicorn (config.settings.test: DEBUG off) and drives it with `--labelers`
concurrent keep-alive clients. Each labeler works as the labeling page's script does: GET the
work area once (the first examples of its lease queue), then one background submit per label
whose answer brings the examples held next (a GET again only if the queue runs dry). Prints the
queries one next and one submit cost (page and API, counted in-process), requests/s as a share
of a trivial endpoint's requests/s (target >= 15% for the page), labels/s, and p50/p95/p99
latency (target p95 < 50 ms).

The trivial endpoint (/healthz, a view that returns "ok" without touching the database) is
served from this file's own URLconf, so the benchmark needs no change to config/urls.py.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default

SLUG = "bench-labeling"
HISTORIC_RATERS = 30

# ---------------------------------------------------------------------------------------------
# The served application: Concord's URLs plus /healthz. gunicorn loads `bench.bench_labeling:app`.

_application = None


def app(environ, start_response):
    global _application
    if _application is None:
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application

        settings.WHITENOISE_USE_FINDERS = True  # the page's scripts, for the browser benchmark
        _application = get_wsgi_application()
        settings.ROOT_URLCONF = "bench.bench_labeling"
    return _application(environ, start_response)


def __getattr__(name):
    # The URLconf is built lazily (PEP 562) so importing this file does not import Django's URLs.
    if name == "urlpatterns":
        from django.http import HttpResponse
        from django.urls import path

        from config.urls import urlpatterns as concord

        return [path("healthz", lambda request: HttpResponse("ok", content_type="text/plain")), *concord]
    raise AttributeError(name)


# ---------------------------------------------------------------------------------------------
# Data


def ensure_database() -> None:
    import django
    import psycopg2
    from django.conf import settings

    django.setup()
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL database (e.g. postgres://postgres@127.0.0.1:5432/concord_bench)."
        )
    if "bench" not in db["NAME"]:
        sys.exit(f"Refusing to use database {db['NAME']!r}: its name must contain 'bench' (it is emptied).")
    admin = psycopg2.connect(
        dbname="postgres", user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432, password=db["PASSWORD"]
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if not cursor.fetchone():
            cursor.execute(f'CREATE DATABASE "{db["NAME"]}"')
    admin.close()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def drop_project() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM projects_project WHERE slug = %s", [SLUG])
        row = cursor.fetchone()
        if not row:
            return
        # The benchmark's database is scratch space (ensure_database refuses any other), so the
        # cascade reaches every table that hangs off the project, whatever later issues add.
        cursor.execute("TRUNCATE projects_project CASCADE")


def setup_data(n_examples: int, n_labelers: int) -> tuple[list[dict], int]:
    """Create the project, its history and the bench labelers; return their cookies and the project id."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction
    from django.utils.crypto import get_random_string

    from projects.models import Label, Membership, Project, Role

    User = get_user_model()
    drop_project()
    project = Project.objects.create(
        name="Bench labeling", slug=SLUG, overlap=3, visible_metadata=["channel"]
    )
    labels = [
        Label.objects.create(project=project, name=name, shortcut_key=str(i + 1), position=i)
        for i, name in enumerate(["billing", "bug", "feature", "other"])
    ]
    password = make_password("bench-not-a-secret")
    users = []
    for prefix, count in (("bench-historic-", HISTORIC_RATERS), ("bench-labeler-", n_labelers)):
        for n in range(count):
            user, _ = User.objects.get_or_create(username=f"{prefix}{n}", defaults={"password": password})
            users.append(user)
    Membership.objects.bulk_create(Membership(user=u, project=project, role=Role.LABELER) for u in users)
    historic = [u.pk for u in users[:HISTORIC_RATERS]]
    labelers = users[HISTORIC_RATERS:]

    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        # 60% of the examples are complete, 20% have 2 labels, 10% have 1, 10% none.
        cursor.execute(
            """
            INSERT INTO projects_example
                (project_id, external_id, text, data, metadata, annotation_count, created_at)
            SELECT %s, 'b' || n, 'Customer message number ' || n || ' about a card charged twice',
                   '{}', '{"channel": "email"}',
                   CASE WHEN n %% 10 < 6 THEN 3 WHEN n %% 10 < 8 THEN 2 WHEN n %% 10 < 9 THEN 1 ELSE 0 END,
                   now()
            FROM generate_series(1, %s) AS n
            """,
            [project.pk, n_examples],
        )
        cursor.execute(
            """
            INSERT INTO labeling_assignment
                (project_id, example_id, rater_id, status, slot, expires_at, skip_reason,
                 created_at, updated_at)
            SELECT e.project_id, e.id, (%s::bigint[])[1 + (e.id + s) %% %s], 'submitted', s, NULL, '',
                   now(), now()
            FROM projects_example e, generate_series(1, 3) AS s
            WHERE e.project_id = %s AND s <= e.annotation_count
            """,
            [historic, len(historic), project.pk],
        )
        cursor.execute(
            """
            INSERT INTO labeling_annotation (example_id, rater_id, label_id, ambiguous, ambiguous_note, note,
                                             time_spent_ms, source, created_at, updated_at)
            SELECT a.example_id, a.rater_id, (%s::bigint[])[1 + a.id %% 4], false, '', '', 3000, 'labeling',
                   now(), now()
            FROM labeling_assignment a WHERE a.project_id = %s
            """,
            [[label.pk for label in labels], project.pk],
        )
        cursor.execute("SELECT count(*) FROM labeling_annotation")
        total_annotations = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        for table in ("projects_example", "labeling_assignment", "labeling_annotation"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"data: {n_examples:,} examples, {total_annotations:,} annotations in the database "
        f"({time.monotonic() - started:.0f} s to load)"
    )

    cookies = []
    for user in labelers:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "core.sessions.AccountBackend"  # what a login names
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        csrf = get_random_string(32)
        cookies.append({"cookie": f"sessionid={session.session_key}; csrftoken={csrf}", "csrf": csrf})
    return cookies, project.pk


def explain_next_query(project_id: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from labeling.selectors import example_candidates
    from projects.models import Project

    project = Project.objects.get(pk=project_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.rater_id FROM labeling_assignment a WHERE a.project_id = %s "
            "GROUP BY a.rater_id ORDER BY count(*) DESC LIMIT 1",
            [project_id],
        )
        user = get_user_model().objects.get(pk=cursor.fetchone()[0])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        for count in (2, 0):
            sql, params = example_candidates(
                project=project, user=user, annotation_count=count, now=timezone.now()
            )
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            print(f"\nEXPLAIN ANALYZE next-example query (annotation_count={count}, rater with history):")
            print("\n".join("    " + row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)


# ---------------------------------------------------------------------------------------------
# Load


class Connection:
    """A minimal HTTP/1.1 keep-alive client: cheap enough that one process can drive the server."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{key}: {value}\r\n" for key, value in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.reader = self.writer = None
        return status, data


LEASE_RE = re.compile(rb'<section class="lease" data-example-id="(\d+)" data-token="([0-9a-f-]+)"')
LABEL_RE = re.compile(rb'name="label" value="(\d+)"')


async def trivial_client(port, stop_at, latencies):
    conn = Connection(port)
    while time.perf_counter() < stop_at:
        began = time.perf_counter()
        status, _ = await conn.request("GET", "/healthz", {})
        latencies.append(time.perf_counter() - began)
        assert status == 200, status


async def labeler_client(port, auth, stop_at, latencies, counters, *, slug: str = SLUG, media: bool = False):
    """The labeling page as its script drives it: the work area once (the first held examples),
    then one background submit per label, whose answer brings the examples held next. With
    `media`, each example's file is downloaded before its label is sent, as the browser does
    (timed as "media")."""
    conn = Connection(port)
    headers = {"Cookie": auth["cookie"], "HX-Request": "true"}
    post_headers = {
        "Cookie": auth["cookie"],
        "X-CSRFToken": auth["csrf"],
        "X-Concord-Background": "1",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    base = f"/projects/{slug}/label/"
    queue: list[tuple[bytes, bytes]] = []
    seen: set[bytes] = set()
    labels: list[bytes] = []
    while time.perf_counter() < stop_at:
        if not queue:
            began = time.perf_counter()
            status, page = await conn.request("GET", base, headers)
            latencies["next"].append(time.perf_counter() - began)
            labels = LABEL_RE.findall(page) or labels
            queue = [lease for lease in LEASE_RE.findall(page) if lease[0] not in seen]
            seen.update(example for example, _ in queue)
            if status != 200 or not queue:
                counters["errors"] += 1
                await asyncio.sleep(0.05)
                continue
        example, token = queue.pop(0)
        if media:
            began = time.perf_counter()
            status, data = await conn.request(
                "GET", f"/projects/{slug}/examples/{example.decode()}/media/", {"Cookie": auth["cookie"]}
            )
            latencies["media"].append(time.perf_counter() - began)
            counters["media_bytes"] += len(data)
            if status != 200:
                counters["errors"] += 1
        label = labels[counters["labels"] % len(labels)].decode()
        body = f"label={label}&client_token={token.decode()}&time_spent_ms=2500".encode()
        began = time.perf_counter()
        status, answer = await conn.request("POST", f"{base}{example.decode()}/submit/", post_headers, body)
        latencies["submit"].append(time.perf_counter() - began)
        if status != 200:
            counters["errors"] += 1
            continue
        counters["labels"] += 1
        items = json.loads(answer)["items"].encode()
        for lease in LEASE_RE.findall(items):
            if lease[0] not in seen:
                seen.add(lease[0])
                queue.append(lease)


def queries_per_request(project_id: int) -> dict[str, int]:
    """Queries of one next and one submit, page and API, counted in this process (Django's test
    client, one bench labeler) on the bench database."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from core.services import api_token_create
    from labeling.models import Assignment

    user = get_user_model().objects.get(username="bench-labeler-0")
    page = Client()
    page.force_login(user)
    base = f"/projects/{SLUG}/label/"
    counts = {}

    def count(name, send):
        with CaptureQueriesContext(connection) as captured:
            response = send()
        assert response.status_code in (200, 201), (name, response.status_code)
        counts[name] = len(captured.captured_queries)
        return response

    count("page next (queue full)", lambda: page.get(base, HTTP_HX_REQUEST="true"))
    lease = Assignment.objects.filter(rater=user, status="leased").order_by("expires_at", "id").first()
    label = user.memberships.get(project_id=project_id).project.labels.first()
    body = {"label": label.pk, "client_token": str(uuid.uuid4())}
    count(
        "page submit (+ the next lease)",
        lambda: page.post(f"{base}{lease.example_id}/submit/", body, HTTP_X_CONCORD_BACKGROUND="1"),
    )
    Assignment.objects.filter(rater=user, status="leased").update(status="released")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='bench-queries')[1]}")
    api.post(f"/api/v1/projects/{SLUG}/annotations/", {}, content_type="application/json")  # token stamp
    next_url = f"/api/v1/projects/{SLUG}/assignments/next/"
    lease = count("API next (claims a lease)", lambda: api.post(next_url, content_type="application/json"))
    count("API next (lease held)", lambda: api.post(next_url, content_type="application/json"))
    body = {"assignment": lease.json()["id"], "label": "bug", "client_token": str(uuid.uuid4())}
    count(
        "API submit",
        lambda: api.post(f"/api/v1/projects/{SLUG}/annotations/", body, content_type="application/json"),
    )
    return counts


def print_queries(project_id: int) -> None:
    print("\nqueries per request (in-process, Django's test client on the bench data):")
    for name, n in queries_per_request(project_id).items():
        print(f"  {name:34s} {n:3d}")


def percentiles(values: list[float]) -> str:
    if not values:
        return "no data"
    ordered = sorted(values)

    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {at(0.50):6.1f} ms  p95 {at(0.95):6.1f} ms  p99 {at(0.99):6.1f} ms  (n={len(values):,})"


async def run_trivial(port, clients, seconds):
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(trivial_client(port, stop_at, latencies) for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - began), latencies


async def run_labelers(port, cookies, seconds):
    latencies = {"next": [], "submit": []}
    counters = {"labels": 0, "errors": 0}
    stop_at = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(labeler_client(port, auth, stop_at, latencies, counters) for auth in cookies))
    elapsed = time.perf_counter() - began
    requests = len(latencies["next"]) + len(latencies["submit"])
    return requests / elapsed, counters["labels"] / elapsed, latencies, counters


def server_arguments(parser: argparse.ArgumentParser) -> None:
    """--workers and --threads of the gunicorn start_server runs, defaulting to the README's
    production command: gthread, about one worker per core, 8 threads each."""
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=8)


def start_server(port: int, workers: int, threads: int) -> subprocess.Popen:
    """gunicorn serving Concord plus /healthz (bench.bench_labeling:app), given up to two minutes
    to start on a busy machine; no control socket, so benchmarks running side by side never share one."""
    import http.client

    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "bench.bench_labeling:app",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--keep-alive=30",
        "--log-level=warning",
        "--no-control-socket",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    sys.exit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=400_000)
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    server_arguments(parser)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the bench project afterwards")
    args = parser.parse_args()

    ensure_database()
    cookies, project_id = setup_data(args.examples, args.labelers)
    explain_next_query(project_id)
    print_queries(project_id)
    from django.db import connections

    connections.close_all()

    server = start_server(args.port, args.workers, args.threads)
    try:
        print(
            f"\ngunicorn: {args.workers} workers x {args.threads} threads; {args.labelers} concurrent clients"
        )
        asyncio.run(run_trivial(args.port, args.labelers, 2))  # warm-up
        trivial_rps, trivial_lat = asyncio.run(run_trivial(args.port, args.labelers, args.seconds))
        asyncio.run(run_labelers(args.port, cookies, 2))  # warm-up: every worker connects to PostgreSQL
        rps, labels_ps, lat, counters = asyncio.run(run_labelers(args.port, cookies, args.seconds))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    both = lat["next"] + lat["submit"]
    print(f"\ntrivial endpoint      {trivial_rps:8.0f} req/s   {percentiles(trivial_lat)}")
    print(f"next + submit         {rps:8.0f} req/s   {percentiles(both)}")
    print(f"  next (GET)                          {percentiles(lat['next'])}")
    print(f"  submit (POST)                       {percentiles(lat['submit'])}")
    print(f"labels saved          {labels_ps:8.0f} /s     errors: {counters['errors']}")
    ratio = rps / trivial_rps
    p95 = sorted(both)[int(0.95 * len(both))] * 1000 if both else float("inf")
    verdict = "OK" if ratio >= 0.15 else "MISSED"
    print(f"\npage next+submit throughput = {ratio:.0%} of trivial (target >= 15%): {verdict}")
    print(f"page labels/s = {labels_ps / trivial_rps:.0%} of trivial requests/s (one request per label)")
    print(f"p95 latency = {p95:.1f} ms (target < 50 ms): {'OK' if p95 < 50 else 'MISSED'}")

    if not args.keep:
        import django.db

        django.db.connections.close_all()
        drop_project()


if __name__ == "__main__":
    main()
