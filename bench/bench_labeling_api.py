"""Benchmark: labelers through the labeling API (POST assignments/next/, POST annotations/) next to
the labeling page (bench_labeling.py's loop) and a trivial endpoint, on one gunicorn in one run.

Usage (PostgreSQL only; the database is created and migrated if missing):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench_labeling_api \\
    .venv/bin/python bench/bench_labeling_api.py [--examples 400000] [--labelers 50] [--seconds 15]

The same data as bench_labeling.py (about 2.3 annotations per example). `--labelers` closed-loop
clients (each sends its next request when the previous one is answered), with keep-alive, run
five phases: the trivial endpoint (/healthz), the page (GET the work area, POST the label), the
API by token (next, then submit with a client token), the API chained (each submit asks for
the next lease, `next: true`: one request per label, as the page's background submit), and the
ceiling: the cheapest authenticated API request there is, assignments/next/ while a lease is
held (the token, the membership and the held lease: three indexed reads, no write, no
transaction). No label can be served faster than that request, so its share of the trivial
endpoint bounds what next + submit can reach on this server. The phases take turns
(`--rounds`), so load from elsewhere on the machine falls on all of them. Prints each phase's
requests/s and labels/s as a share of the trivial endpoint's requests/s, and p50/p95/p99
latency. gunicorn runs as the README's production command does (`--workers` one per
core, `--threads 8`).
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default

from bench.bench_labeling import (  # noqa: E402 - the path and settings above come first
    SLUG,
    Connection,
    ensure_database,
    explain_next_query,
    labeler_client,
    percentiles,
    server_arguments,
    setup_data,
    start_server,
)
from bench.bench_labeling import drop_project as drop_bench_project  # noqa: E402

LABELS = ("billing", "bug", "feature", "other")


def api_tokens(n_labelers: int) -> list[str]:
    """An API token for each bench labeler made by setup_data (bench-labeler-0 ...)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from core.models import ApiToken
    from core.services import api_token_create

    users = get_user_model().objects.filter(username__startswith="bench-labeler-").order_by("pk")
    # The users outlive the bench project: revoke earlier runs' tokens (a user may hold only a few).
    ApiToken.objects.filter(user__in=users, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return [api_token_create(user=user, name="bench")[1] for user in users[:n_labelers]]


async def api_client(port, token, stop_at, latencies, counters, *, chained: bool = False):
    """A labeling script: assignments/next/, then the submit with a client token. `chained`: each
    submit asks for the next lease (`next: true`) and the script labels that one, one request per
    label; next is asked for only at the start and after an error."""
    conn = Connection(port)
    auth = {"Authorization": f"Bearer {token}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    base = f"/api/v1/projects/{SLUG}"
    lease = None
    while time.perf_counter() < stop_at:
        if lease is None:
            began = time.perf_counter()
            status, body = await conn.request("POST", f"{base}/assignments/next/", auth)
            latencies["next"].append(time.perf_counter() - began)
            if status != 200:
                counters["errors"] += 1
                await asyncio.sleep(0.05)
                continue
            lease = json.loads(body)
        payload = {
            "assignment": lease["id"],
            "label": LABELS[counters["labels"] % 4],
            "client_token": str(uuid.uuid4()),
            "time_spent_ms": 2500,
            **({"next": True} if chained else {}),
        }
        began = time.perf_counter()
        status, body = await conn.request(
            "POST", f"{base}/annotations/", json_headers, json.dumps(payload).encode()
        )
        latencies["submit"].append(time.perf_counter() - began)
        lease = json.loads(body)["next"] if chained and status == 201 else None
        counters["labels" if status == 201 else "errors"] += 1


async def repeat_client(port, method, path, headers, stop_at, latencies, counters):
    """One request again and again (the trivial endpoint; the ceiling: assignments/next/ while a
    lease is held, the first call taking it, each answer the same lease read by the request's
    three indexed reads); anything but 200 is an error."""
    conn = Connection(port)
    while time.perf_counter() < stop_at:
        began = time.perf_counter()
        status, _ = await conn.request(method, path, headers)
        latencies["next"].append(time.perf_counter() - began)
        counters["errors"] += status != 200


async def open_loop_labeler(port, token, first_at, interval, stop_at, latencies, counters):
    """A labeler who labels one example every `interval` seconds whatever the server does: at each
    scheduled time the label of the example held (if any) is submitted, then the next one is asked
    for. Each latency counts from when the request was due, not from when it could be sent, so a
    slow answer that delays the labeler's next request is not hidden (coordinated omission)."""
    conn = Connection(port)
    auth = {"Authorization": f"Bearer {token}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    base = f"/api/v1/projects/{SLUG}"
    lease = None
    due = first_at
    while due < stop_at:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if lease is not None:
            payload = {"assignment": lease["id"], "label": LABELS[counters["labels"] % 4]}
            payload["client_token"] = str(uuid.uuid4())
            status, _ = await conn.request(
                "POST", f"{base}/annotations/", json_headers, json.dumps(payload).encode()
            )
            latencies["submit"].append(time.perf_counter() - due)
            counters["labels" if status == 201 else "errors"] += 1
        asked = time.perf_counter()
        status, body = await conn.request("POST", f"{base}/assignments/next/", auth)
        latencies["next"].append(time.perf_counter() - asked)
        lease = json.loads(body) if status == 200 else None
        counters["errors"] += status not in (200, 204)
        due += interval


async def run_open_loop(port, tokens, interval, seconds):
    latencies = {"next": [], "submit": []}
    counters = {"labels": 0, "errors": 0}
    began = time.perf_counter()
    stop_at = began + seconds
    # Arrivals spread evenly over the interval, as independent people would.
    await asyncio.gather(
        *(
            open_loop_labeler(
                port, token, began + n * interval / len(tokens), interval, stop_at, latencies, counters
            )
            for n, token in enumerate(tokens)
        )
    )
    return latencies, counters


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("inf")


async def run_clients(make_client, credentials, seconds):
    latencies = {"next": [], "submit": []}
    counters = {"labels": 0, "errors": 0}
    stop_at = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(make_client(c, stop_at, latencies, counters) for c in credentials))
    return time.perf_counter() - began, latencies, counters


class Phase:
    """One kind of load, summed over the rounds it ran in."""

    def __init__(self):
        self.elapsed = 0.0
        self.latencies = {"next": [], "submit": []}
        self.counters = {"labels": 0, "errors": 0}

    def add(self, elapsed, latencies, counters):
        self.elapsed += elapsed
        for key in self.latencies:
            self.latencies[key] += latencies[key]
        for key in self.counters:
            self.counters[key] += counters[key]

    @property
    def all(self) -> list[float]:
        return self.latencies["next"] + self.latencies["submit"]

    @property
    def rps(self) -> float:
        return len(self.all) / self.elapsed

    @property
    def labels_per_second(self) -> float:
        return self.counters["labels"] / self.elapsed


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * len(values))] * 1000 if values else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=400_000)
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15, help="per phase, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="turns the phases take")
    server_arguments(parser)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--open-labelers", type=int, default=200, help="open loop: labelers")
    parser.add_argument("--interval", type=float, default=2.0, help="open loop: seconds per label")
    parser.add_argument("--open-seconds", type=float, default=20, help="open loop: duration")
    parser.add_argument("--keep", action="store_true", help="keep the bench project afterwards")
    args = parser.parse_args()

    ensure_database()
    cookies, project_id = setup_data(args.examples, max(args.labelers, args.open_labelers))
    all_tokens = api_tokens(max(args.labelers, args.open_labelers))
    tokens = all_tokens[: args.labelers]
    cookies = cookies[: args.labelers]
    explain_next_query(project_id)
    from django.db import connections

    connections.close_all()

    server = start_server(args.port, args.workers, args.threads)
    port = args.port

    def page(auth, stop_at, latencies, counters):
        return labeler_client(port, auth, stop_at, latencies, counters)

    def api(token, stop_at, latencies, counters):
        return api_client(port, token, stop_at, latencies, counters)

    def api_chained(token, stop_at, latencies, counters):
        return api_client(port, token, stop_at, latencies, counters, chained=True)

    def api_held(token, stop_at, latencies, counters):
        auth = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/projects/{SLUG}/assignments/next/"
        return repeat_client(port, "POST", path, auth, stop_at, latencies, counters)

    def trivial(_credential, stop_at, latencies, counters):
        return repeat_client(port, "GET", "/healthz", {}, stop_at, latencies, counters)

    phases = {
        "trivial": (trivial, cookies),
        "page": (page, cookies),
        "api": (api, tokens),
        "api_chained": (api_chained, tokens),
        "api_held": (api_held, tokens),
    }
    results = {name: Phase() for name in phases}
    try:
        print(
            f"\ngunicorn: {args.workers} workers x {args.threads} threads; {args.labelers} concurrent clients"
        )
        for client, credentials in phases.values():  # warm-up: every worker connects to PostgreSQL
            asyncio.run(run_clients(client, credentials, 2))
        # The phases take turns, so a neighbour's load on the machine falls on each of them alike.
        for _ in range(args.rounds):
            for name, (client, credentials) in phases.items():
                results[name].add(*asyncio.run(run_clients(client, credentials, args.seconds / args.rounds)))
        # Open loop through the API: what a labeler waits for at a realistic, steady pace.
        print("open loop: started", file=sys.stderr, flush=True)  # a mark for a profiler to start on
        open_latencies, open_counters = asyncio.run(
            run_open_loop(port, all_tokens[: args.open_labelers], args.interval, args.open_seconds)
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    base = results["trivial"]
    print(f"\n{'trivial endpoint':<28}{base.rps:8.0f} req/s   {percentiles(base.all)}")
    titles = (
        ("page", "page: next + submit"),
        ("api", "API:  next + submit"),
        ("api_chained", "API:  submit with next"),
    )
    for name, title in titles:
        phase = results[name]
        print(f"{title:<28}{phase.rps:8.0f} req/s   {percentiles(phase.all)}")
        print(f"  next                                    {percentiles(phase.latencies['next'])}")
        print(f"  submit                                  {percentiles(phase.latencies['submit'])}")
        print(
            f"  labels saved              {phase.labels_per_second:8.0f} /s     "
            f"errors: {phase.counters['errors']}"
        )
    print()
    for name, title in (("page", "labeling page"), ("api", "labeling API "), ("api_chained", "API, chained")):
        phase = results[name]
        share = phase.rps / base.rps
        labels = phase.labels_per_second / base.rps
        print(
            f"{title}: next+submit throughput = {share:.0%} of trivial in requests/s "
            f"({labels:.1%} in labels/s), p95 {p95(phase.all):.1f} ms"
        )
    print(f"API / page throughput = {results['api'].rps / results['page'].rps:.2f}")
    held = results["api_held"]
    print(
        f"ceiling: an API request reading a held lease (3 indexed reads, no write) "
        f"{held.rps:.0f} req/s = {held.rps / base.rps:.0%} of trivial (p95 {p95(held.all):.1f} ms); "
        f"next + submit at {results['api'].rps / held.rps:.0%} of it"
    )
    for name, target in (("page", 0.15), ("api", 0.25), ("api_chained", 0.25)):
        share = results[name].rps / base.rps
        print(f"  {name}: {'OK' if share >= target else 'MISSED'} (target >= {target:.0%})")

    rate = args.open_labelers / args.interval
    print(
        f"\nopen loop (API): {args.open_labelers} labelers, one label every {args.interval:g} s each "
        f"({rate:.0f} labels/s scheduled), {args.open_seconds:g} s; latency from the scheduled time"
    )
    for kind in ("next", "submit"):
        values = open_latencies[kind]
        p95_ms, p99_ms = pct(values, 0.95), pct(values, 0.99)
        verdict = "OK" if p95_ms < 50 and p99_ms < 100 else "MISSED"
        print(
            f"  {kind:7s} p95 {p95_ms:7.1f} ms  p99 {p99_ms:7.1f} ms  (n={len(values):,})  "
            f"target p95 < 50, p99 < 100: {verdict}"
        )
    print(f"  labels saved {open_counters['labels']:,}, errors {open_counters['errors']}")

    if not args.keep:
        connections.close_all()
        drop_bench_project()


if __name__ == "__main__":
    main()
