"""Benchmark of dataset releases on PostgreSQL: 1,000,000 clean examples (examples loaded with COPY,
their consensus labels and `--raters` current annotations each with INSERT ... SELECT), one
release built by the same service the worker runs, then downloads of its JSONL, CSV and JSON
array through the download page's view.

Downloads are measured twice: through gunicorn (one sync worker, plain HTTP, read 256 KiB at a
time; the worker's RSS is sampled from /proc) and in this process through Django's WSGI handler
(django.test.Client, reading the streamed FileResponse chunk by chunk). Prints: the build time vs
`COPY (SELECT <same columns>) TO STDOUT` of the same rows (as rows/s, a ratio: the target is at
least 50%) and the peak RSS growth of this process during the build (sampled every 5 ms; the
target is under 50 MiB), each download's throughput as a ratio to that COPY, its time to first
byte, and the serving process's RSS growth during it.
Drops and recreates its own database (default `concord_bench_export`).

    .venv/bin/python bench/bench_export.py [--examples 1000000] [--port 8765]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/concord_bench_export"


def recreate_database(url: str) -> None:
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    admin = psycopg2.connect(dbname="postgres", user=cfg["USER"], host=cfg["HOST"], port=cfg["PORT"] or 5432)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}"')
        cursor.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    admin.close()


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's RSS every 5 ms while active."""

    def __enter__(self):
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def load(n: int, raters: int):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from projects.models import Label, Membership, Project, Role

    project = Project.objects.create(name="Bench export", slug="bench-export")
    Label.objects.bulk_create(
        [Label(project=project, name=name, shortcut_key=str(i + 1), position=i)
         for i, name in enumerate(["billing", "bug", "feature", "other"])]
    )  # fmt: skip
    user = get_user_model().objects.create_user(username="bench-manager", password="!")
    Membership.objects.create(user=user, project=project, role=Role.MANAGER)
    channels = ["email", "chat", "phone", "social"]
    with connection.cursor() as cursor:
        for start in range(0, n, 200_000):
            buffer = io.StringIO()
            for i in range(start, min(n, start + 200_000)):
                # Quotes, a backslash (doubled in COPY's text input) and non-ASCII in every row.
                buffer.write(
                    f'{project.pk}\tex-{i:07d}\tMessage {i}: the "invoice" total is wrong \\\\ café\t{{}}\t'
                    f'{{"channel": "{channels[i % 4]}", "n": {i}}}\t3\t2026-01-01\n'
                )
            buffer.seek(0)
            cursor.cursor.copy_expert(
                "COPY projects_example (project_id, external_id, text, data, metadata, annotation_count, "
                "created_at) FROM STDIN",
                buffer,
                size=1 << 20,
            )
        cursor.execute(
            "INSERT INTO consistency_consensuslabel "
            "(example_id, label_id, source, agreement, n_raters, decided_at) "
            "SELECT e.id, l.id, CASE WHEN e.id %% 3 = 0 THEN 'majority' ELSE 'unanimous' END, "
            "CASE WHEN e.id %% 3 = 0 THEN 0.6667 ELSE 1.0 END, 3, now() "
            "FROM projects_example e JOIN projects_label l ON l.project_id = e.project_id "
            "AND l.position = e.id %% 4 WHERE e.project_id = %s",
            [project.pk],
        )
        # Each rater's current annotation of every example: the consensus label, except on one
        # example in seven (another label), a tenth of them flagged ambiguous.
        for r in range(raters):
            rater = get_user_model().objects.create_user(username=f"bench-rater-{r}", password="!")
            Membership.objects.create(user=rater, project=project, role=Role.LABELER)
            cursor.execute(
                "INSERT INTO labeling_annotation (example_id, rater_id, label_id, ambiguous, ambiguous_note, "
                "note, source, created_at, updated_at) "
                "SELECT e.id, %s, CASE WHEN (e.id + %s) %% 7 = 0 THEN other.id ELSE c.label_id END, "
                "(e.id + %s) %% 10 = 0, '', '', 'labeling', now(), now() "
                "FROM projects_example e JOIN consistency_consensuslabel c ON c.example_id = e.id "
                "JOIN projects_label l ON l.id = c.label_id JOIN projects_label other "
                "ON other.project_id = e.project_id AND other.position = (l.position + 1) %% 4 "
                "WHERE e.project_id = %s",
                [rater.pk, r, r, project.pk],
            )
        cursor.execute("ANALYZE")
    return project, user


class CountingSink:
    def __init__(self):
        self.size = 0

    def write(self, data):
        self.size += len(data)
        return len(data)


def copy_baseline(release) -> tuple[float, int]:
    from django.db import connection

    sql = (
        "COPY (SELECT i.external_id, e.text, i.label, i.source, i.split, i.agreement, i.n_raters, "
        "i.guideline_versions, e.metadata FROM consistency_datasetreleaseitem i JOIN projects_example e "
        f"ON e.id = i.example_id WHERE i.release_id = {release.pk} "
        'ORDER BY i.external_id COLLATE "C") TO STDOUT'
    )
    sink = CountingSink()
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(sql, sink, size=256 * 1024)
    return time.perf_counter() - start, sink.size


def selection_alone(release) -> float:
    """The build's first stage without the rest: `COPY (<the clean rows' query>) TO STDOUT`, the
    same query with the same settings the build runs, its rows discarded (no temporary table, no
    splits, no items, no files). Whatever a build does after it, it cannot take less time than
    this query (on PostgreSQL the selection is what decides which rows a release holds)."""
    from django.db import connection, transaction

    from consistency.releases import selectors
    from consistency.releases.policy import ReleasePolicy

    policy = ReleasePolicy.from_dict(release.policy)
    sql, params = selectors.release_clean_sql(project=release.project, policy=policy, previous=None)
    sink = CountingSink()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(selectors.BUILD_SETTINGS_SQL)
        statement = cursor.mogrify(sql, params).decode()
        start = time.perf_counter()
        cursor.cursor.copy_expert(f"COPY ({statement}) TO STDOUT", sink, size=256 * 1024)
        return time.perf_counter() - start


def stage_timers() -> dict[str, float]:
    """Time the build's stages by wrapping them in place: the files' pass (_files_write) runs the
    items' write (_items_write) inside it, which on PostgreSQL selects, then streams the file rows
    out of the items' insert (_items_insert_streamed); stage_report subtracts."""
    from consistency.releases import services

    seconds: dict[str, float] = {}
    for attribute in ("_files_write", "_items_write", "_items_insert_streamed"):
        stage = getattr(services, attribute)

        def timed(*args, _stage=stage, _name=attribute, **kwargs):
            start = time.perf_counter()
            try:
                return _stage(*args, **kwargs)
            finally:
                seconds[_name] = seconds.get(_name, 0.0) + time.perf_counter() - start

        setattr(services, attribute, timed)
    return seconds


def stage_report(seconds: dict[str, float]) -> str:
    files, items = seconds.get("_files_write", 0.0), seconds.get("_items_write", 0.0)
    streamed = seconds.get("_items_insert_streamed", 0.0)
    return (
        f"build stages: select clean rows and splits {items - streamed:.1f} s, insert items while "
        f"writing the files from their rows {streamed:.1f} s, finish and store the files "
        f"{files - items:.1f} s"
    )


def download(client, url: str) -> dict:
    with PeakRss() as rss:
        start = time.perf_counter()
        response = client.get(url)
        chunks = iter(response.streaming_content)
        first = next(chunks)
        ttfb = time.perf_counter() - start
        size = len(first)
        for chunk in chunks:
            size += len(chunk)
        elapsed = time.perf_counter() - start
        response.close()
    return {
        "status": response.status_code,
        "seconds": elapsed,
        "ttfb": ttfb,
        "bytes": size,
        "rss_mb": rss.growth_mb,
    }


def server_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def gunicorn_download(base: str, path: str, cookie: str, worker_pid: int) -> dict:
    """GET through a real HTTP server, reading 256 KiB at a time; the worker's RSS is sampled."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    start_rss = peak = server_rss(worker_pid)
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.wait(0.005):
            peak = max(peak, server_rss(worker_pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
    response = conn.getresponse()
    first = response.read1(256 * 1024)
    ttfb = time.perf_counter() - start
    size = len(first)
    while chunk := response.read1(256 * 1024):
        size += len(chunk)
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    conn.close()
    return {
        "status": response.status,
        "seconds": elapsed,
        "ttfb": ttfb,
        "bytes": size,
        "rss_mb": (max(peak, server_rss(worker_pid)) - start_rss) / 2**20,
    }


def start_gunicorn(port: int, env: dict) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--worker-class", "sync", "--timeout", "300", "--log-level", "warning", "--no-control-socket"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with open(f"/proc/{process.pid}/task/{process.pid}/children") as handle:
                children = handle.read().split()
            if children:
                import socket

                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return process, int(children[0])
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--raters", type=int, default=3, help="current annotations per example")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--port", type=int, default=8765, help="gunicorn's port for the downloads")
    args = parser.parse_args()

    recreate_database(args.database_url)
    storage = tempfile.mkdtemp(prefix="concord-bench-export-")
    os.environ.update(
        DATABASE_URL=args.database_url,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        PRIVATE_STORAGE_ROOT=storage,
        DEBUG="0",
        ALLOWED_HOSTS="testserver",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from consistency.releases.services import release_build

    call_command("migrate", verbosity=0)
    start = time.perf_counter()
    project, user = load(args.examples, args.raters)
    print(
        f"loaded {args.examples:,} examples, consensus labels and {args.raters} annotations each "
        f"in {time.perf_counter() - start:.1f} s"
    )

    stages = stage_timers()
    with PeakRss() as build_rss:
        start = time.perf_counter()
        release = release_build(project=project, user=user, tag="bench")
        build_seconds = time.perf_counter() - start
    assert release.status == "ready", release.error
    copy_seconds, copy_bytes = copy_baseline(release)
    copy_seconds = min(copy_seconds, copy_baseline(release)[0])
    print(f"release {release.tag}: {release.n_items:,} items, JSONL {release.jsonl_bytes / 2**20:.0f} MiB, "
          f"CSV {release.csv_bytes / 2**20:.0f} MiB, sha256 {release.sha256[:16]}...")  # fmt: skip
    print(f"build: {build_seconds:.1f} s = {build_seconds / copy_seconds:.1f}x the COPY of the same columns "
          f"({copy_seconds:.2f} s, {copy_bytes / 2**20:.0f} MiB): {copy_seconds / build_seconds:.0%} of "
          f"COPY's rows/s (target >= 50%); peak RSS growth during build +{build_rss.growth_mb:.0f} MiB "
          "(target < 50 MiB)")  # fmt: skip
    print(stage_report(stages))
    select_seconds = min(selection_alone(release), selection_alone(release))
    print(
        f"ceiling: the clean rows' query alone (COPY of its rows, nothing written) {select_seconds:.2f} s "
        f"= {select_seconds / copy_seconds:.1f}x the COPY above: a build that selects its rows at all "
        f"reaches at most {copy_seconds / select_seconds:.0%} of COPY's rows/s; this one reaches "
        f"{select_seconds / build_seconds:.0%} of that ceiling"
    )

    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    port = args.port
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "ALLOWED_HOSTS": "127.0.0.1"}
    server, worker_pid = start_gunicorn(port, env)
    try:
        for fmt in ("jsonl", "csv", "json"):
            url = reverse("consistency:release_download", args=[project.slug, release.tag, fmt])
            # The first request warms the worker (imports, connection) and the page cache, as
            # COPY's second run was warm; the second is measured.
            gunicorn_download(f"http://127.0.0.1:{port}", url, cookie, worker_pid)
            result = gunicorn_download(f"http://127.0.0.1:{port}", url, cookie, worker_pid)
            report(fmt, result, release, copy_seconds, "gunicorn, 1 sync worker, HTTP")
        for fmt in ("jsonl", "csv", "json"):
            url = reverse("consistency:release_download", args=[project.slug, release.tag, fmt])
            download(client, url)
            report(fmt, download(client, url), release, copy_seconds, "in-process WSGI handler")
    finally:
        server.terminate()
        server.wait(10)


def report(fmt: str, result: dict, release, copy_seconds: float, how: str) -> None:
    ratio = copy_seconds / result["seconds"]  # same rows: the ratio of rows per second
    mib = result["bytes"] / 2**20
    print(
        f"download {fmt} ({how}): HTTP {result['status']}, {mib:.0f} MiB in {result['seconds']:.2f} s "
        f"({mib / result['seconds']:.0f} MiB/s), {ratio:.0%} of COPY's rows/s; "
        f"first byte {result['ttfb'] * 1000:.0f} ms; server RSS growth {result['rss_mb']:.1f} MiB"
    )


if __name__ == "__main__":
    main()
