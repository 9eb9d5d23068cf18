"""Benchmark: the labeling page with an image per example next to the same page with text, on one
gunicorn in one run (issue 12: next + submit with 200 KB images, 50 concurrent labelers).

Usage (PostgreSQL only; the database is created and migrated if missing):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench_labeling_api \\
    .venv/bin/python bench/bench_media_labeling.py [--examples 20000] [--labelers 50] [--seconds 15]

Two fresh projects with the same labels, labelers and number of examples: one of texts, one of
JPEG images of about 200 KB (32 distinct files of noise, which JPEG cannot shrink, shared by the
examples; the operating system's page cache holds them, as it would hold a labeler's working set).
Closed-loop clients drive the page as its script does (bench_labeling.labeler_client): the work
area, then one background submit per label; on the image project each example's file is also
downloaded through the access-checked media view before its label is sent, as the browser does.
The two phases take turns (`--rounds`). Prints labels/s of each and the image page's share of the
text page's, with the latency of each request kind.
"""

import argparse
import asyncio
import io
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default
STORAGE = tempfile.mkdtemp(prefix="concord-bench-media-labeling-")
os.environ["PRIVATE_STORAGE_ROOT"] = STORAGE  # read by the settings here and by gunicorn's workers

from bench.bench_labeling import (  # noqa: E402 - the path and settings above come first
    ensure_database,
    labeler_client,
    percentiles,
    server_arguments,
    setup_data,
    start_server,
)
from bench.bench_labeling_api import Phase  # noqa: E402

TEXT_SLUG, IMAGE_SLUG = "bench-text-page", "bench-image-page"
DISTINCT_FILES = 32
TARGET_BYTES = 200 * 1024


def noise_jpeg(seed: int) -> bytes:
    """A JPEG of random noise close to TARGET_BYTES (noise does not compress)."""
    from PIL import Image

    rng = random.Random(seed)
    side = 300
    while True:
        pixels = bytes(rng.getrandbits(8) for _ in range(side * side * 3))
        buffer = io.BytesIO()
        Image.frombytes("RGB", (side, side), pixels).save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        if len(data) >= TARGET_BYTES * 0.9:
            return data
        side += 40


def make_projects(n_examples: int) -> None:
    """The text and the image project, each with every bench labeler as a member."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db import connection, transaction

    from projects.models import Label, Membership, Project, Role

    labelers = list(get_user_model().objects.filter(username__startswith="bench-labeler-"))
    files = []
    for seed in range(DISTINCT_FILES):
        data = noise_jpeg(seed)
        sha = hashlib.sha256(data).hexdigest()
        files.append((default_storage.save(f"media/bench/{sha}", ContentFile(data)), sha, len(data)))
    sizes = [size for _, _, size in files]
    print(f"images: {DISTINCT_FILES} distinct JPEGs, {min(sizes) // 1024}-{max(sizes) // 1024} KB each")
    for slug in (TEXT_SLUG, IMAGE_SLUG):
        with transaction.atomic():
            project = Project.objects.create(name=slug, slug=slug, overlap=3)
            for i, name in enumerate(["billing", "bug", "feature", "other"]):
                Label.objects.create(project=project, name=name, shortcut_key=str(i + 1), position=i)
            Membership.objects.bulk_create(
                Membership(user=user, project=project, role=Role.LABELER) for user in labelers
            )
            with connection.cursor() as cursor:
                if slug == TEXT_SLUG:
                    cursor.execute(
                        "INSERT INTO projects_example (project_id, external_id, text, data, metadata, "
                        "annotation_count, created_at) SELECT %s, 't' || n, 'Customer message number ' "
                        "|| n || ' about a card charged twice', '{}', '{}', 0, now() "
                        "FROM generate_series(1, %s) AS n",
                        [project.pk, n_examples],
                    )
                else:
                    cursor.execute(
                        "INSERT INTO projects_example (project_id, external_id, text, data, metadata, "
                        "annotation_count, created_at, media_file, media_name, media_type, media_sha256, "
                        "media_bytes) SELECT %s, 'i' || n, '', '{}', '{}', 0, now(), "
                        "(%s::text[])[1 + n %% %s], 'image-' || n || '.jpg', 'image/jpeg', "
                        "(%s::text[])[1 + n %% %s], (%s::int[])[1 + n %% %s] "
                        "FROM generate_series(1, %s) AS n",
                        [
                            project.pk,
                            [name for name, _, _ in files],
                            DISTINCT_FILES,
                            [sha for _, sha, _ in files],
                            DISTINCT_FILES,
                            sizes,
                            DISTINCT_FILES,
                            n_examples,
                        ],
                    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE projects_example")


async def run_phase(port, cookies, seconds, *, slug, media):
    latencies = {"next": [], "submit": [], "media": []}
    counters = {"labels": 0, "errors": 0, "media_bytes": 0}
    stop_at = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(
        *(
            labeler_client(port, auth, stop_at, latencies, counters, slug=slug, media=media)
            for auth in cookies
        )
    )
    return time.perf_counter() - began, latencies, counters


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15, help="per phase, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="turns the phases take")
    server_arguments(parser)
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()

    ensure_database()
    cookies, _ = setup_data(1_000, args.labelers)  # the labelers and their sessions (and a small project)
    make_projects(args.examples)
    from django.db import connections

    connections.close_all()
    server = start_server(args.port, args.workers, args.threads)
    phases = {"text": (TEXT_SLUG, False), "image": (IMAGE_SLUG, True)}
    results = {}
    try:
        print(f"\ngunicorn: {args.workers} workers x {args.threads} threads; {args.labelers} labelers")
        for slug, media in phases.values():  # warm-up: every worker connects to PostgreSQL
            asyncio.run(run_phase(args.port, cookies, 2, slug=slug, media=media))
        for name in phases:
            results[name] = Phase()
            results[name].latencies["media"] = []
            results[name].counters["media_bytes"] = 0
        for _ in range(args.rounds):
            for name, (slug, media) in phases.items():
                results[name].add(
                    *asyncio.run(
                        run_phase(args.port, cookies, args.seconds / args.rounds, slug=slug, media=media)
                    )
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    rates = {}
    for name, phase in results.items():
        rates[name] = phase.counters["labels"] / phase.elapsed
        print(f"\n{name} page: {rates[name]:7.1f} labels/s   errors: {phase.counters['errors']}")
        print(f"  next    {percentiles(phase.latencies['next'])}")
        print(f"  submit  {percentiles(phase.latencies['submit'])}")
        if phase.latencies["media"]:
            mb_per_s = phase.counters["media_bytes"] / phase.elapsed / 1024**2
            print(f"  image   {percentiles(phase.latencies['media'])}   {mb_per_s:.1f} MB/s served")
    print(f"\nimage page / text page (labels per second, same run): {rates['image'] / rates['text']:.2f}")


if __name__ == "__main__":
    main()
