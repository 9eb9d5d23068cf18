"""Benchmark: the example browser on 1,000,000 examples, against a trivial endpoint.

Usage (PostgreSQL only; the database is created and migrated if missing, and emptied):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench_browser \\
    .venv/bin/python bench/bench_example_browser.py [--examples 1000000] [--users 10] [--seconds 15]

Fills one project with `--examples` examples (varied text and metadata), about 2.3 current
annotations per example by 10 raters, final labels (unanimous, majority, gold, excluded), open
review cases, tags and a release; prints EXPLAIN ANALYZE of the browser's query for a few filter
combinations; then serves Concord with gunicorn and drives it with `--users` concurrent SMEs, each
loading filtered and searched pages (text search plus one or more filters, sorted, random page
1-5). Prints p50/p95/p99 of those pages and of the trivial endpoint (/healthz, no database) in
the same run, and their ratio.
"""

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default

from bench.bench_labeling import (  # noqa: E402  (after the settings module is chosen)
    Connection,
    ensure_database,
    percentiles,
    run_trivial,
    server_arguments,
    start_server,
)

SLUG = "bench-browser"
RATERS = 10
WORDS = [
    "refund",
    "crash",
    "invoice",
    "login",
    "password",
    "shipping",
    "charged",
    "slow",
    "feature",
    "export",
]
CHANNELS = ["email", "chat", "phone", "web"]


def sessions_for(usernames: list[str]) -> list[str]:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    cookies = []
    for user in get_user_model().objects.filter(username__in=usernames).order_by("username"):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "core.sessions.AccountBackend"  # what a login names
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append(f"sessionid={session.session_key}")
    return cookies


def drop_project() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM projects_project WHERE slug = %s", [SLUG])
        if cursor.fetchone():
            # Scratch database only (ensure_database refuses any other): the cascade reaches every table.
            cursor.execute("TRUNCATE projects_project CASCADE")


def setup_data(n_examples: int, n_users: int) -> tuple[list[str], dict]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from projects.models import GuidelineVersion, Label, Membership, Project, Role

    User = get_user_model()
    drop_project()
    project = Project.objects.create(name="Bench browser", slug=SLUG, overlap=3)
    labels = [
        Label.objects.create(project=project, name=name, shortcut_key=str(i + 1), position=i)
        for i, name in enumerate(["billing", "bug", "feature", "other"])
    ]
    password = make_password("bench-not-a-secret")
    raters, smes = [], []
    for prefix, count, bucket, role in (
        ("bench-rater-", RATERS, raters, Role.LABELER),
        ("bench-sme-", n_users, smes, Role.SME),
    ):
        for n in range(count):
            user, _ = User.objects.get_or_create(username=f"{prefix}{n}", defaults={"password": password})
            bucket.append(user)
            Membership.objects.create(user=user, project=project, role=role)
    version = GuidelineVersion.objects.create(project=project, number=1, body="# v1", changelog="First")
    label_ids = [label.pk for label in labels]
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        # Text: a few of WORDS per example; metadata: a channel and a number.
        cursor.execute(
            """
            INSERT INTO projects_example
                (project_id, external_id, text, data, metadata, annotation_count, extra_raters, created_at)
            SELECT %(project)s, 'T-' || n,
                   'Customer message ' || n || ' about ' || (%(words)s::text[])[1 + n %% 10] || ' and '
                       || (%(words)s::text[])[1 + (n / 10) %% 10] || ', sent ' || (n %% 97) || ' days ago',
                   '{}',
                   jsonb_build_object('channel', (%(channels)s::text[])[1 + n %% 4], 'priority', n %% 5),
                   CASE WHEN n %% 10 < 6 THEN 3 WHEN n %% 10 < 8 THEN 2 WHEN n %% 10 < 9 THEN 1 ELSE 0 END,
                   0, now() - (n || ' seconds')::interval
            FROM generate_series(1, %(n)s) AS n
            """,
            {"project": project.pk, "words": WORDS, "channels": CHANNELS, "n": n_examples},
        )
        cursor.execute(
            """
            INSERT INTO labeling_annotation (example_id, rater_id, label_id, guideline_version_id, ambiguous,
                ambiguous_note, note, time_spent_ms, source, created_at, updated_at)
            SELECT e.id, (%(raters)s::bigint[])[1 + (e.id + s) %% %(n_raters)s],
                   (%(labels)s::bigint[])[1 + (e.id + CASE WHEN e.id %% 10 = 1 THEN s ELSE 0 END) %% 4],
                   %(version)s, false, '', '', 3000, 'labeling', now(), now()
            FROM projects_example e, generate_series(1, 3) AS s
            WHERE e.project_id = %(project)s AND s <= e.annotation_count
            """,
            {
                "raters": [u.pk for u in raters],
                "n_raters": RATERS,
                "labels": label_ids,
                "version": version.pk,
                "project": project.pk,
            },
        )
        # Complete examples: most decided (unanimous, or a majority), some resolved or excluded,
        # some queued for review.
        cursor.execute(
            """
            INSERT INTO consistency_consensuslabel
                (example_id, label_id, source, agreement, n_raters, decided_at)
            SELECT e.id,
                   CASE WHEN e.id %% 20 = 7 THEN NULL ELSE (%(labels)s::bigint[])[1 + e.id %% 4] END,
                   CASE WHEN e.id %% 20 = 7 THEN 'excluded' WHEN e.id %% 20 = 3 THEN 'gold'
                        WHEN e.id %% 10 = 1 THEN 'majority' ELSE 'unanimous' END,
                   CASE WHEN e.id %% 20 IN (3, 7) THEN NULL WHEN e.id %% 10 = 1 THEN 0.667 ELSE 1.0 END,
                   3, now()
            FROM projects_example e
            WHERE e.project_id = %(project)s AND e.annotation_count = 3 AND e.id %% 20 <> 9
            """,
            {"labels": label_ids, "project": project.pk},
        )
        cursor.execute(
            """
            INSERT INTO consistency_disagreement
                (project_id, example_id, status, reason, majority_share, created_at)
            SELECT %(project)s, e.id, 'open', 'split', 0.34, now()
            FROM projects_example e
            WHERE e.project_id = %(project)s AND e.annotation_count = 3 AND e.id %% 20 = 9
            """,
            {"project": project.pk},
        )
        cursor.execute(
            """
            INSERT INTO projects_exampletag (project_id, example_id, name, created_at)
            SELECT %(project)s, e.id, 'tricky', now() FROM projects_example e
            WHERE e.project_id = %(project)s AND e.id %% 100 = 0
            """,
            {"project": project.pk},
        )
        cursor.execute(
            "SELECT count(*) FROM labeling_annotation a JOIN projects_example e ON e.id = a.example_id "
            "WHERE e.project_id = %s",
            [project.pk],
        )
        n_annotations = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        for table in (
            "projects_example",
            "labeling_annotation",
            "consistency_consensuslabel",
            "consistency_disagreement",
            "projects_exampletag",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"data: {n_examples:,} examples, {n_annotations:,} annotations "
        f"({time.monotonic() - started:.0f} s to load)"
    )
    cookies = sessions_for([u.username for u in smes])
    return cookies, {"project": project, "labels": {label.name: label.pk for label in labels}}


def searches(labels: dict) -> list[dict]:
    """Filtered and searched pages, as an SME would ask for them."""
    return [
        {"q": "refund", "status": "decided", "label": labels["billing"]},
        {"q": "crash invoice", "field": "channel", "value": "chat"},
        {"q": "password", "rater": "bench-rater-3", "sort": "-id"},
        {"q": "shipping", "agreement_max": "0.7", "sort": "agreement"},
        {"q": "login", "tag": "tricky"},
        {"q": "slow", "status": "queued"},
        {"q": "export", "guideline": 1, "label": labels["bug"], "sort": "-external_id"},
    ]


def explain(data: dict) -> None:
    from django.db import connection, transaction

    from consistency.examples.browser import PAGE_SIZE, browser_filters_clean, examples_browse

    project = data["project"]
    for params in searches(data["labels"])[:5]:
        filters = browser_filters_clean(project=project, params={k: str(v) for k, v in params.items()})
        assert not filters.errors, filters.errors
        rows = examples_browse(project=project, filters=filters)
        sql, sql_params = rows[: PAGE_SIZE + 1].query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, sql_params)
            plan = [row[0] for row in cursor.fetchall()]
        print(f"\nEXPLAIN ANALYZE browser page {params}:")
        print("\n".join("    " + line for line in plan))


async def sme_client(port, cookie, queries, stop_at, latencies, counters):
    conn = Connection(port)
    rng = random.Random(cookie)
    while time.perf_counter() < stop_at:
        params = dict(rng.choice(queries))
        params["page"] = rng.randint(1, 5)
        path = f"/projects/{SLUG}/examples/?{urlencode(params)}"
        began = time.perf_counter()
        status, page = await conn.request("GET", path, {"Cookie": cookie})
        latencies.append(time.perf_counter() - began)
        if status != 200 or b'id="example-list"' not in page:
            counters["errors"] += 1


async def run_smes(port, cookies, queries, seconds):
    latencies: list[float] = []
    counters = {"errors": 0}
    stop_at = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(sme_client(port, c, queries, stop_at, latencies, counters) for c in cookies))
    return len(latencies) / (time.perf_counter() - began), latencies, counters


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * len(values))] * 1000 if values else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15)
    server_arguments(parser)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--keep", action="store_true", help="keep the bench project afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the bench project a --keep run left")
    args = parser.parse_args()

    ensure_database()
    if args.reuse:
        from projects.models import Project

        project = Project.objects.filter(slug=SLUG).first()
        if project is None:
            sys.exit("--reuse: no bench project to reuse; run once without it.")
        print(f"data: reusing {project.examples.count():,} examples")
        cookies = sessions_for([f"bench-sme-{n}" for n in range(args.users)])
        data = {"project": project, "labels": dict(project.labels.values_list("name", "pk"))}
    else:
        cookies, data = setup_data(args.examples, args.users)
    explain(data)
    queries = searches(data["labels"])
    from django.db import connections

    connections.close_all()
    server = start_server(args.port, args.workers, args.threads)
    try:
        print(f"\ngunicorn: {args.workers} workers x {args.threads} threads; {args.users} concurrent SMEs")
        asyncio.run(run_trivial(args.port, args.users, 2))  # warm-up
        trivial_rps, trivial_lat = asyncio.run(run_trivial(args.port, args.users, args.seconds))
        asyncio.run(run_smes(args.port, cookies, queries, 3))  # warm-up
        rps, lat, counters = asyncio.run(run_smes(args.port, cookies, queries, args.seconds))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(f"\ntrivial endpoint        {trivial_rps:8.0f} req/s   {percentiles(trivial_lat)}")
    print(f"filtered+searched page  {rps:8.0f} req/s   {percentiles(lat)}   errors: {counters['errors']}")
    print(
        f"\nbrowser page p95 = {p95(lat) / p95(trivial_lat):.1f}x the trivial endpoint's p95; "
        f"throughput = {rps / trivial_rps:.1%} of trivial"
    )
    print(f"browser page p95 = {p95(lat):.1f} ms at {args.users} concurrent users")
    if not args.keep:
        connections.close_all()
        drop_project()


if __name__ == "__main__":
    main()
