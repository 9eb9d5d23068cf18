"""Benchmark: importing a ZIP of N images (default 10,000) with its manifest, against the text
import of N rows and against the bare cost of checking the same images, in the same run.

Usage (PostgreSQL only):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord .venv/bin/python bench/bench_media.py \
        [--images N] [--repeat R]

It runs in its own database, `concord_bench_media` (created and migrated if missing), and keeps
the files it stores in a temporary folder. Prints:
- the media import's time (import_batch_run in a child process: read the ZIP member by member,
  check each image by content with a real decode, hash it, store it, COPY, insert) and images/s;
- its ratio to the floor: the same reads, checks and hashes in-process with no storage and no
  database (what any content check costs);
- its ratio to the text import of a CSV with N rows (same ids) into an empty project;
- the child's peak resident memory above what it held before the import, next to the ZIP's size:
  the ZIP is streamed, so the peak stays flat as N grows (target < 100 MB above the start).
"""

import argparse
import csv
import hashlib
import io
import multiprocessing
import os
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Imported first: it points DATABASE_URL at its own database, which is then pointed at ours.
from bench_import import ensure_database, vm_kib  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default
BENCH_DATABASE = "concord_bench_media"
_server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/concord")
os.environ["DATABASE_URL"] = _server.rsplit("/", 1)[0] + "/" + BENCH_DATABASE
STORAGE = tempfile.mkdtemp(prefix="concord-bench-media-")
os.environ["PRIVATE_STORAGE_ROOT"] = STORAGE


def generate(zip_path: Path, csv_path: Path, images: int) -> None:
    """N distinct 96x96 PNGs (a shape on noise) in a ZIP with manifest.csv; a CSV of N texts."""
    from PIL import Image, ImageDraw

    rng = random.Random(3)
    noise = [Image.effect_noise((96, 96), 40).convert("RGB") for _ in range(8)]
    with (
        zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive,
        csv_path.open("w", newline="") as text,
    ):
        manifest = io.StringIO()
        rows, texts = csv.writer(manifest), csv.writer(text)
        rows.writerow(["file", "id", "site"])
        texts.writerow(["id", "text", "site"])
        for number in range(images):
            image = noise[number % 8].copy()
            x, y = number % 60, (number // 60) % 60  # position makes every image distinct
            ImageDraw.Draw(image).ellipse((x, y, x + 30, y + 30), fill=(rng.randint(0, 255), 90, 200))
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            name = f"scans/{number:06d}.png"
            archive.writestr(name, buffer.getvalue())
            rows.writerow([name, f"m-{number}", f"site-{number % 5}"])
            texts.writerow([f"m-{number}", f"An example text number {number}", f"site-{number % 5}"])
        archive.writestr("manifest.csv", manifest.getvalue())


def floor_seconds(zip_path: Path) -> float:
    """Read, check (magic bytes and full decode) and hash every image: no storage, no database."""
    from projects.media import media_check

    started = time.perf_counter()
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".png"):
                data = archive.read(info)
                media_check(data)
                hashlib.sha256(data).hexdigest()
    return time.perf_counter() - started


def import_child(batch_id: int, pipe) -> None:
    from django.db import connections

    connections.close_all()  # never share the parent's connection
    from projects.services.imports import import_batch_run

    rss_before = vm_kib("VmRSS")
    started = time.perf_counter()
    batch = import_batch_run(batch_id=batch_id)
    pipe.send(
        {
            "elapsed": time.perf_counter() - started,
            "status": batch.status,
            "created": batch.rows_created,
            "errors": batch.errors[:3],
            "rss_before_kib": rss_before,
            "hwm_kib": vm_kib("VmHWM"),
        }
    )
    pipe.close()


def import_once(path: Path, slug: str) -> dict:
    import shutil

    from django.db import connection, connections

    from projects.models import Project
    from projects.services.imports import import_batch_create

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE projects_example, projects_importbatch CASCADE")
    shutil.rmtree(Path(STORAGE) / "media", ignore_errors=True)
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": slug})
    batch = import_batch_create(
        project=project, user=None, uploaded_file_or_path=path, source_name=path.name, run_in_background=False
    )
    connections.close_all()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=import_child, args=(batch.id, sender))
    child.start()
    sender.close()
    result = receiver.recv()
    child.join()
    if result["status"] != "succeeded":
        sys.exit(f"import of {path.name} failed: {result['errors']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    ensure_database()
    with tempfile.TemporaryDirectory() as folder:
        zip_path, csv_path = Path(folder) / "images.zip", Path(folder) / "texts.csv"
        started = time.perf_counter()
        generate(zip_path, csv_path, args.images)
        zip_mb = zip_path.stat().st_size / 1024**2
        print(
            f"{args.images} images, ZIP {zip_mb:.1f} MB (generated in {time.perf_counter() - started:.1f} s)"
        )
        for round_number in range(args.repeat):
            floor = floor_seconds(zip_path)
            text = import_once(csv_path, "bench-text")
            media = import_once(zip_path, "bench-media")
            if media["created"] != args.images:
                sys.exit(f"expected {args.images} examples, got {media['created']}")
            peak_mb = (media["hwm_kib"] - media["rss_before_kib"]) / 1024
            print(f"round {round_number + 1}:")
            print(
                f"  media import   {media['elapsed']:7.2f} s  {args.images / media['elapsed']:8.0f} images/s"
            )
            print(f"  check floor    {floor:7.2f} s  media import / floor = {media['elapsed'] / floor:.2f}x")
            print(
                f"  text import    {text['elapsed']:7.2f} s  media import / text import = "
                f"{media['elapsed'] / text['elapsed']:.2f}x"
            )
            print(
                f"  peak memory of the media import: +{peak_mb:.0f} MB above its start "
                f"(peak RSS {media['hwm_kib'] / 1024:.0f} MB) for a {zip_mb:.0f} MB ZIP "
                f"(ratio {peak_mb / zip_mb:.2f}; target < 100 MB above the start)"
            )


if __name__ == "__main__":
    try:
        main()
    finally:
        import shutil

        shutil.rmtree(STORAGE, ignore_errors=True)
