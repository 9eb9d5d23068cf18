"""Benchmark of the derived release files (Parquet per split, the Hugging Face zip, Label Studio
tasks) on PostgreSQL: a release of N clean examples (loaded as bench_export.py loads them), then
each format written on its first download (as for a release cut on the command line; the worker
writes them right after a build), then downloaded again from storage.

The baseline, measured in the same run, is what any writer of these files must at least do: read
the release's JSONL file from storage and parse every line (`formats.jsonl_records`). Prints each
format's first-download write time as a ratio to that baseline, the peak RSS growth while writing
(the rows are streamed, so it should not grow with N), and the second download's time.
Drops and recreates its own database (default `concord_bench_release_exports`).

    .venv/bin/python bench/bench_release_exports.py [--examples 200000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/concord_bench_release_exports"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    from bench_export import PeakRss, load, recreate_database

    recreate_database(args.database_url)
    storage = tempfile.mkdtemp(prefix="concord-bench-release-exports-")
    os.environ.update(
        DATABASE_URL=args.database_url,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        PRIVATE_STORAGE_ROOT=storage,
        DEBUG="0",
        ALLOWED_HOSTS="testserver",
    )
    import django

    django.setup()
    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from consistency.releases import exports
    from consistency.releases.formats import jsonl_records
    from consistency.releases.services import release_build

    call_command("migrate", verbosity=0)
    project, user = load(args.examples)
    release = release_build(project=project, user=user, tag="bench", policy={"include_raters": False})
    assert release.status == "ready", release.error
    print(f"release {release.tag}: {release.n_items:,} items, JSONL {release.jsonl_bytes / 2**20:.0f} MiB")

    def read_and_parse() -> float:
        start = time.perf_counter()
        with default_storage.open(release.jsonl_file, "rb") as handle:
            for _ in jsonl_records(iter(lambda: handle.read(1 << 20), b"")):
                pass
        return time.perf_counter() - start

    read_and_parse()  # warm the page cache, as the writers will find it warm
    baseline = min(read_and_parse(), read_and_parse())
    print(f"baseline: read and parse the JSONL once: {baseline:.2f} s")

    client = Client()
    client.force_login(user)
    for file_format in ("parquet-train", "hf", "labelstudio"):
        with PeakRss() as rss:
            start = time.perf_counter()
            export = exports.release_export_get(release=release, file_format=file_format)
            seconds = time.perf_counter() - start
        note = " (all three splits in one go: two passes)" if file_format == "parquet-train" else ""
        if file_format == "hf":
            note = " (the Parquet files are already written: one pass for the card, then the zip)"
        print(
            f"first download of {file_format}{note}: written in {seconds:.2f} s = "
            f"{seconds / baseline:.2f}x the baseline; {export.bytes / 2**20:.1f} MiB; "
            f"peak RSS growth {rss.growth_mb:.1f} MiB"
        )
        url = reverse("consistency:release_download", args=[project.slug, release.tag, file_format])
        start = time.perf_counter()
        response = client.get(url)
        size = sum(len(chunk) for chunk in response.streaming_content)
        seconds = time.perf_counter() - start
        print(f"  next download: HTTP {response.status_code}, {size / 2**20:.1f} MiB in {seconds:.2f} s")


if __name__ == "__main__":
    main()
