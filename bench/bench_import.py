"""Benchmark: importing a CSV of N examples (default 1,000,000) against PostgreSQL's own COPY, and
importing N annotations (default 1,000,000) against that examples import, in the same run.

Usage (PostgreSQL only):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord .venv/bin/python bench/bench_import.py \
        [--rows N] [--annotations N] [--repeat R]

It runs in its own database, `concord_bench_import` on the server DATABASE_URL names (created and
migrated if missing), because it empties the examples table before each run so that the import
writes into an empty table, as the COPY baseline does.

Prints rows/s of a bare `COPY t(id, text, channel, language) FROM STDIN CSV HEADER` and of the
real import (import_batch_run, run in a child process), the import's share of COPY's throughput
(target >= 50%) and the child's peak resident memory (target < 300 MB). Then the annotation
import of a long-format file (example_id, rater, label, batch; no text: the classic format) with
3 raters per example into a new project, as `import_annotations --create` does, including the
decision rules on every example: its time as a multiple of the examples import's time (target
<= 3x) and its peak resident memory (target < 300 MB); and the same file into a project whose
examples were imported first (their counts updated and their decisions' state read).
"""

import argparse
import csv
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default
BENCH_DATABASE = "concord_bench_import"
_server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/concord")
os.environ["DATABASE_URL"] = _server.rsplit("/", 1)[0] + "/" + BENCH_DATABASE

WORDS = [
    "invoice", "refund", "account", "password", "login", "error", "crash", "slow", "app", "update",
    "payment", "card", "charge", "twice", "order", "delivery", "late", "missing", "package", "support",
    "agent", "thanks", "please", "help", "urgent", "feature", "request", "export", "report", "dashboard",
    "email", "notification", "settings", "mobile", "browser", "sync", "data", "lost",
]  # fmt: skip


def generate_csv(path: Path, rows: int) -> None:
    rng = random.Random(42)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,text,channel,language\n")
        for number in range(rows):
            words = []
            while sum(len(word) + 1 for word in words) < rng.randint(60, 120):
                words.append(rng.choice(WORDS))
            text = " ".join(words).capitalize()
            if number % 10 == 0:
                text = f'"{text}, again ""really"""'  # some quoting, as real exports have
            channel, language = rng.choice(("email", "chat", "phone")), rng.choice(("en", "de"))
            handle.write(f"t-{number},{text},{channel},{language}\n")


RATERS = [
    "Mary O'Neil", "j. doe", "李", "Ana Lopez", "bo@example.com", "K. Müller", "sam_2", "Dr. Who",
    "o'brien", "Zoë", "r.k.", "Nguyen Van A", "alice", "bob", "carol", "dave", "erin", "frank",
    "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil",
    "trent", "victor", "walter", "xena", "yuki", "zed", "Jean-Luc P.", "María José", "Li Wei",
    "T. O'Hara", "ann-marie", "R2",
]  # fmt: skip
LABELS = ["billing", "bug", "feature", "other"]


def generate_annotations_csv(path: Path, rows: int) -> None:
    """`rows` annotations: examples of 3 raters each (70% unanimous, 25% 2-to-1, 5% split)."""
    rng = random.Random(43)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["example_id", "rater", "label", "batch"])
        written = 0
        number = 0
        while written < rows:
            raters = rng.sample(RATERS, 3)
            roll = rng.random()
            if roll < 0.70:
                labels = [rng.choice(LABELS)] * 3
            elif roll < 0.95:
                first, second = rng.sample(LABELS, 2)
                labels = [first, first, second]
            else:
                labels = rng.sample(LABELS, 3)
            for rater, label in list(zip(raters, labels, strict=True))[: rows - written]:
                writer.writerow([f"a-{number}", rater, label, f"b{number % 20}"])
                written += 1
            number += 1


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def ensure_database() -> None:
    import django
    import psycopg2
    from django.conf import settings

    django.setup()
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/concord).")
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


def time_copy(path: Path, project_id: int, batch_id: int) -> tuple[float, float]:
    """Seconds for a bare COPY of the file, and for moving those rows into projects_example.

    The second figure is the floor of any import into this table: its three indexes, two foreign
    keys and the jsonb column cost the same whoever writes the rows.
    """
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (id text, text text, channel text, language text)")
    started = time.perf_counter()
    with connection.cursor() as cursor, path.open("rb") as handle:
        cursor.cursor.copy_expert(
            "COPY bench_copy (id, text, channel, language) FROM STDIN WITH (FORMAT csv, HEADER true)", handle
        )
    copy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_example (project_id, external_id, text, data, metadata, import_batch_id, "
            "annotation_count, created_at) SELECT %s, id, text, '{}', "
            "jsonb_build_object('channel', channel, 'language', language), %s, 0, now() FROM bench_copy",
            [project_id, batch_id],
        )
    table_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy")
        cursor.execute("TRUNCATE projects_example, projects_importbatch CASCADE")
    return copy_seconds, table_seconds


def run_import_child(batch_id: int, pipe) -> None:
    from django.db import connections

    connections.close_all()  # never share the parent's connection
    from projects.services import imports

    phases = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    # Time the phases: staging (read, validate, COPY into the temp table), the INSERT into
    # projects_example, and the whole run (the rest is the checks and the COMMIT).
    imports._stage = timed("stage", imports._stage)
    imports._insert_examples = timed("insert", imports._insert_examples)
    imports._examples_run = timed("run", imports._examples_run)
    import_batch_run = imports.import_batch_run

    rss_before = vm_kib("VmRSS")
    started = time.perf_counter()
    batch = import_batch_run(batch_id=batch_id)
    elapsed = time.perf_counter() - started
    pipe.send(
        {
            "elapsed": elapsed,
            "status": batch.status,
            "created": batch.rows_created,
            "errors": batch.errors[:3],
            "rss_before_kib": rss_before,
            "hwm_kib": vm_kib("VmHWM"),
            "phases": phases,
        }
    )
    pipe.close()


def run_once(path: Path, rows: int) -> dict:
    """One round: COPY, the floor, then the import in a child process; the table emptied between."""
    from django.db import connection, connections

    from projects.models import ImportBatch, Project
    from projects.services.imports import import_batch_create

    # A clean slate: the import writes into an empty examples table, as COPY does.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE projects_example, projects_importbatch CASCADE")
    project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    floor_batch = ImportBatch.objects.create(project=project, source_name="floor", file_format="csv")
    copy_seconds, table_seconds = time_copy(path, project.id, floor_batch.id)

    batch = import_batch_create(
        project=project, user=None, uploaded_file_or_path=path, source_name=path.name, run_in_background=False
    )
    connections.close_all()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=run_import_child, args=(batch.id, sender))
    child.start()
    sender.close()  # only the child writes: if it dies, recv() raises EOFError instead of waiting
    result = receiver.recv()
    child.join()
    if result["status"] != "succeeded" or result["created"] != rows:
        sys.exit(f"import failed: {result['errors']}")
    return {"copy": copy_seconds, "floor": table_seconds, **result}


def run_annotations_child(batch_id: int, pipe) -> None:
    from django.db import connections

    connections.close_all()  # never share the parent's connection
    from labeling.services import imports as annotation_import
    from projects.services.imports import import_batch_run

    phases = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    # Phases: staging (read, validate, COPY), the checks, the writes, and the decision rules.
    annotation_import.staging_load = timed("stage", annotation_import.staging_load)
    annotation_import._file_errors = timed("checks", annotation_import._file_errors)
    annotation_import._write = timed("write", annotation_import._write)
    annotation_import.examples_decide = timed("decide", annotation_import.examples_decide)
    annotation_import.new_examples_decide = timed("decide", annotation_import.new_examples_decide)
    # The job asks for an agreement report (labeling.hooks); test settings would compute it inline.
    from labeling import hooks

    for receiver in hooks.annotations_changed.receivers:
        hooks.annotations_changed.disconnect(receiver)

    rss_before = vm_kib("VmRSS")
    started = time.perf_counter()
    batch = import_batch_run(batch_id=batch_id)
    elapsed = time.perf_counter() - started
    pipe.send(
        {
            "elapsed": elapsed,
            "status": batch.status,
            "created": batch.rows_created,
            "errors": batch.errors[:3],
            "decisions": batch.summary.get("decisions"),
            "rss_before_kib": rss_before,
            "hwm_kib": vm_kib("VmHWM"),
            "phases": phases,
        }
    )
    pipe.close()


def run_annotations_once(path: Path, rows: int, examples_path: Path | None = None) -> dict:
    """One round: an empty project (with the examples of `examples_path` imported first, if
    given), then the annotation import in a child process."""
    from django.db import connection, connections

    from projects.models import ImportBatch, Project
    from projects.services.imports import import_batch_create, import_batch_run

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE projects_example, projects_importbatch CASCADE")
    project, _ = Project.objects.get_or_create(
        slug="bench-annotations", defaults={"name": "Bench annotations"}
    )
    Project.objects.filter(pk=project.pk).update(overlap=3, accept_majority=True)
    if examples_path is not None:
        batch = import_batch_create(
            project=project,
            user=None,
            uploaded_file_or_path=examples_path,
            source_name=examples_path.name,
            run_in_background=False,
        )
        if import_batch_run(batch_id=batch.id).status != "succeeded":
            sys.exit("the examples for the annotations did not import")
    batch = import_batch_create(
        project=project,
        user=None,
        uploaded_file_or_path=path,
        source_name=path.name,
        kind=ImportBatch.Kind.ANNOTATIONS,
        options={"create": True},
        run_in_background=False,
    )
    connections.close_all()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=run_annotations_child, args=(batch.id, sender))
    child.start()
    sender.close()  # only the child writes: if it dies, recv() raises EOFError instead of waiting
    result = receiver.recv()
    child.join()
    if result["status"] != "succeeded" or result["created"] != rows:
        sys.exit(f"annotation import failed: {result['errors']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="examples in the examples file")
    parser.add_argument("--annotations", type=int, default=1_000_000, help="rows of the annotations file")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the best time of each is reported")
    args = parser.parse_args()
    ensure_database()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "examples.csv"
        print(f"generating {args.rows:,} examples ...", flush=True)
        generate_csv(path, args.rows)
        print(f"file: {path.stat().st_size / 1e6:.1f} MB", flush=True)
        annotations_path = Path(tmp) / "annotations.csv"
        print(f"generating {args.annotations:,} annotations ...", flush=True)
        generate_annotations_csv(annotations_path, args.annotations)
        print(f"file: {annotations_path.stat().st_size / 1e6:.1f} MB", flush=True)
        texts_path = Path(tmp) / "texts.csv"
        with texts_path.open("w", encoding="utf-8") as handle:
            handle.write("id,text\n")
            handle.writelines(f"a-{n},Text of example {n}\n" for n in range((args.annotations + 2) // 3))
        rounds = []
        annotation_rounds = []
        existing_rounds = []
        for number in range(args.repeat):
            rounds.append(run_once(path, args.rows))
            latest = rounds[-1]
            print(
                f"round {number + 1}: COPY {latest['copy']:.2f} s, floor {latest['floor']:.2f} s, "
                f"import {latest['elapsed']:.2f} s",
                flush=True,
            )
            annotation_rounds.append(run_annotations_once(annotations_path, args.annotations))
            print(f"round {number + 1}: annotations {annotation_rounds[-1]['elapsed']:.2f} s", flush=True)
            existing_rounds.append(run_annotations_once(annotations_path, args.annotations, texts_path))
            print(
                f"round {number + 1}: annotations into imported examples "
                f"{existing_rounds[-1]['elapsed']:.2f} s",
                flush=True,
            )
        children_maxrss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    copy_seconds = min(r["copy"] for r in rounds)
    table_seconds = min(r["floor"] for r in rounds)
    best = min(rounds, key=lambda r: r["elapsed"])
    copy_rate = args.rows / copy_seconds
    import_rate = args.rows / best["elapsed"]
    table_rate = args.rows / table_seconds
    phases = best["phases"]
    print(f"COPY into a bare table:       {copy_seconds:7.2f} s  {copy_rate:12,.0f} rows/s")
    print(f"import (import_batch_run):    {best['elapsed']:7.2f} s  {import_rate:12,.0f} rows/s")
    print(
        f"  phases: staging {phases.get('stage', 0):.2f} s, insert {phases.get('insert', 0):.2f} s, "
        f"locks + commit {phases.get('run', 0) - phases.get('stage', 0) - phases.get('insert', 0):.2f} s"
    )
    print(
        f"floor: the COPYed rows INSERTed into projects_example: {table_seconds:7.2f} s  "
        f"{table_rate:12,.0f} rows/s"
    )
    print(f"import throughput / COPY throughput: {100 * import_rate / copy_rate:.0f}%  (target >= 50%)")
    print(
        f"(COPY + floor) / import time:        {100 * (copy_seconds + table_seconds) / best['elapsed']:.0f}%"
    )
    print(
        f"import peak RSS: {max(r['hwm_kib'] for r in rounds) / 1024:.0f} MB "
        f"(children's ru_maxrss {children_maxrss_mb:.0f} MB; "
        f"RSS before the import {best['rss_before_kib'] / 1024:.0f} MB; target < 300 MB)"
    )

    annotations = min(annotation_rounds, key=lambda r: r["elapsed"])
    phases = annotations["phases"]
    decisions = annotations["decisions"]
    print(
        f"annotation import of {args.annotations:,} rows: {annotations['elapsed']:7.2f} s  "
        f"{args.annotations / annotations['elapsed']:12,.0f} rows/s"
    )
    print(
        f"  phases: staging {phases.get('stage', 0):.2f} s, checks {phases.get('checks', 0):.2f} s, "
        f"writes {phases.get('write', 0) - phases.get('decide', 0):.2f} s, "
        f"decision rules {phases.get('decide', 0):.2f} s "
        f"({decisions['unanimous']:,} unanimous, {decisions['majority']:,} majority, "
        f"{decisions['queued']:,} queued)"
    )
    ratio = annotations["elapsed"] / best["elapsed"] * args.rows / args.annotations
    print(f"annotation import time / examples import time (per row): {ratio:.2f}x  (target <= 3x)")
    existing = min(existing_rounds, key=lambda r: r["elapsed"])
    ratio = existing["elapsed"] / best["elapsed"] * args.rows / args.annotations
    print(
        f"the same annotations into examples imported before (counts updated, state read): "
        f"{existing['elapsed']:7.2f} s, {ratio:.2f}x the examples import"
    )
    peak = max(r["hwm_kib"] for r in annotation_rounds + existing_rounds) / 1024
    print(
        f"annotation import peak RSS: {peak:.0f} MB "
        f"(RSS before {annotations['rss_before_kib'] / 1024:.0f} MB; target < 300 MB)"
    )


if __name__ == "__main__":
    main()
