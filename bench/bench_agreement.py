"""Benchmark of the agreement report on PostgreSQL: 1,000,000 annotations (200,000 examples, 5 raters
each from a pool of 20, 10 labels).

Prints (a) the full report's end-to-end time as a ratio to a floor measured in the same run (fetch the
same (example, rater, label) triples from PostgreSQL into NumPy, plus one Fleiss' kappa), (b) the
statistics kernels against statsmodels and the krippendorff package, with their values, and (c) peak
memory. Needs PostgreSQL; it drops and recreates its own database (default `concord_bench`).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench .venv/bin/python bench/bench_agreement.py
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/concord_bench"


def recreate_database(url: str) -> None:
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    admin = psycopg2.connect(
        dbname="postgres",
        user=cfg["USER"],
        host=cfg["HOST"],
        port=cfg["PORT"] or 5432,
        password=cfg["PASSWORD"],
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}"')
        cursor.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    admin.close()


def timed(fn, repeat: int = 1):
    """Best wall time of `repeat` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def load(n_examples: int, per_item: int, n_raters: int, n_labels: int, seed: int) -> int:
    """Create the project with COPY; returns its id."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from projects.models import Label, Membership, Project, Role

    rng = np.random.default_rng(seed)
    project = Project.objects.create(name="Bench", slug="bench", overlap=per_item)
    labels = [
        Label(project=project, name=f"label-{i}", shortcut_key="123456789b"[i], position=i)
        for i in range(n_labels)
    ]
    Label.objects.bulk_create(labels)
    label_ids = np.array(sorted(project.labels.values_list("id", flat=True)))
    User = get_user_model()  # noqa: N806
    users = User.objects.bulk_create([User(username=f"rater{i:02d}", password="!") for i in range(n_raters)])
    Membership.objects.bulk_create([Membership(user=u, project=project, role=Role.LABELER) for u in users])
    user_ids = np.array([u.pk for u in users])

    channels = np.array(["email", "chat", "phone", "social"])
    channel = channels[rng.integers(0, len(channels), n_examples)]
    buffer = io.StringIO()
    for i in range(n_examples):
        buffer.write(
            f"{project.pk}\tex-{i}\tBenchmark message {i}\t{{}}\t"
            f'{{"channel": "{channel[i]}"}}\t{per_item}\t2026-01-01\n'
        )
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            "COPY projects_example (project_id, external_id, text, data, metadata, annotation_count, "
            "created_at) FROM STDIN",
            buffer,
        )
        cursor.execute("SELECT id FROM projects_example WHERE project_id = %s ORDER BY id", [project.pk])
        example_ids = np.array([row[0] for row in cursor.fetchall()])

    # Each example: `per_item` distinct raters; a rater gives the true label with its own accuracy.
    truth = rng.choice(
        n_labels, n_examples, p=np.linspace(3, 1, n_labels) / np.linspace(3, 1, n_labels).sum()
    )
    raters = np.argsort(rng.random((n_examples, n_raters)), axis=1)[:, :per_item].ravel()
    accuracy = np.linspace(0.9, 0.55, n_raters)
    true = np.repeat(truth, per_item)
    right = rng.random(len(true)) < accuracy[raters]
    given = np.where(right, true, (true + rng.integers(1, n_labels, len(true))) % n_labels)
    items = np.repeat(example_ids, per_item)
    lines = "\n".join(
        f"{e}\t{r}\t{lab}\tf\t\t\timport\t2026-01-01\t2026-01-01"
        for e, r, lab in zip(
            items.tolist(), user_ids[raters].tolist(), label_ids[given].tolist(), strict=True
        )
    )
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            "COPY labeling_annotation (example_id, rater_id, label_id, ambiguous, ambiguous_note, note, "
            "source, created_at, updated_at) FROM STDIN",
            io.StringIO(lines + "\n"),
        )
        cursor.execute("ANALYZE")
    return project.pk


# ru_maxrss survives fork and exec on Linux (the child would report the parent's peak); the
# kernel's VmHWM belongs to the new process image only.
WORKER_SNIPPET = """
import re, sys
import django
django.setup()
from consistency.agreement.services import agreement_report_compute
def hwm():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+)", f.read()).group(1)) // 1024
before = hwm()
agreement_report_compute(project_id=int(sys.argv[1]))
print(before, hwm())
"""

TRIPLES_SQL = (
    "SELECT a.example_id, a.rater_id, a.label_id FROM labeling_annotation a "
    "JOIN projects_example e ON e.id = a.example_id WHERE e.project_id = %s"
)


def floor_fetchall(project_id: int):
    """Fetch the triples with a plain cursor into NumPy, map label ids to codes, one Fleiss' kappa."""
    from django.db import connection

    from consistency.agreement import statistics as stats

    with connection.cursor() as cursor:
        cursor.execute(TRIPLES_SQL, [project_id])
        arr = np.array(cursor.fetchall(), dtype=np.int64)
    codes = np.unique(arr[:, 2], return_inverse=True)[1].ravel()
    return arr, codes, stats.fleiss_kappa(arr[:, 0], arr[:, 1], codes, int(codes.max()) + 1, n_boot=0)


def floor_copy(project_id: int):
    """The same through COPY ... TO STDOUT (text), parsed by NumPy: the fastest plain path we know."""
    from django.db import connection

    from consistency.agreement import statistics as stats

    buffer = io.StringIO()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY ({TRIPLES_SQL.replace('%s', str(int(project_id)))}) TO STDOUT", buffer
        )
    buffer.seek(0)
    arr = np.fromstring(buffer.getvalue().replace("\n", "\t"), dtype=np.int64, sep="\t").reshape(-1, 3)
    codes = np.unique(arr[:, 2], return_inverse=True)[1].ravel()
    return arr, codes, stats.fleiss_kappa(arr[:, 0], arr[:, 1], codes, int(codes.max()) + 1, n_boot=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--per-item", type=int, default=5)
    parser.add_argument("--raters", type=int, default=20)
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgres"):
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    n = options.examples * options.per_item
    print(f"Loading {n:,} annotations ({options.examples:,} examples x {options.per_item} raters "
          f"from {options.raters}, {options.labels} labels) ...")  # fmt: skip
    t_load, project_id = timed(
        lambda: load(options.examples, options.per_item, options.raters, options.labels, options.seed)
    )
    print(f"  loaded with COPY in {t_load:.1f} s")

    from consistency.agreement import statistics as stats
    from consistency.agreement.selectors import agreement_arrays
    from consistency.agreement.services import agreement_report_compute
    from projects.models import Project

    project = Project.objects.get(pk=project_id)

    # (a) End-to-end against the floor.
    t_fetchall, (arr, codes, floor_kappa) = timed(lambda: floor_fetchall(project_id), options.repeat)
    t_copy, _ = timed(lambda: floor_copy(project_id), options.repeat)
    floor = min(t_fetchall, t_copy)
    t_arrays, arrays = timed(lambda: agreement_arrays(project=project), options.repeat)
    t_report, report = timed(lambda: agreement_report_compute(project_id=project_id), options.repeat)
    t_slice, sliced = timed(
        lambda: agreement_report_compute(project_id=project_id, slice_field="channel"), options.repeat
    )
    assert report.status == "succeeded", report.error
    assert abs(report.result["fleiss_kappa"]["value"] - floor_kappa.value) < 1e-12
    print("\n(a) End to end, best of", options.repeat)
    print(f"  floor, cursor.fetchall -> NumPy + Fleiss' kappa   {t_fetchall:7.2f} s")
    print(f"  floor, COPY TO STDOUT -> NumPy + Fleiss' kappa    {t_copy:7.2f} s")
    print(f"  selector only (values_list -> arrays)            {t_arrays:7.2f} s")
    print("  full report (4 coefficients with 1000-replicate bootstrap CIs, pairwise kappas, per label,")
    print(f"    per rater, confusion, diagnostics, per guideline version; stored)  {t_report:7.2f} s"
          f"  = {t_report / floor:.1f}x the floor")  # fmt: skip
    print(f"  the same plus slices by a metadata field (4 values)             {t_slice:7.2f} s"
          f"  = {t_slice / floor:.1f}x the floor")  # fmt: skip

    # (b) Kernels against reference libraries, on the same arrays.
    items, raters, labels = arrays.items, arrays.raters, arrays.labels
    q = arrays.n_labels
    print("\n(b) Kernels (point estimates, best of", options.repeat, ")")
    t_ours_fleiss, ours_fleiss = timed(
        lambda: stats.fleiss_kappa(items, raters, labels, q, n_boot=0), options.repeat
    )
    order = np.argsort(items, kind="stable")
    matrix = labels[order].reshape(-1, options.per_item)  # one row per example, 5 ratings

    def statsmodels_fleiss(matrix=matrix):
        from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

        table, _ = aggregate_raters(matrix, n_cat=q)
        return fleiss_kappa(table, method="fleiss")

    t_sm, sm_fleiss = timed(statsmodels_fleiss, options.repeat)
    print(f"  Fleiss' kappa   ours {t_ours_fleiss:6.3f} s ({ours_fleiss.value:.10f})   "
          f"statsmodels aggregate_raters+fleiss_kappa {t_sm:6.3f} s ({sm_fleiss:.10f})")  # fmt: skip
    assert abs(ours_fleiss.value - sm_fleiss) < 1e-9

    t_ours_alpha, ours_alpha = timed(
        lambda: stats.krippendorff_alpha(items, raters, labels, q, n_boot=0), options.repeat
    )
    rater_index = np.unique(raters, return_inverse=True)[1].ravel()
    item_index = np.unique(items, return_inverse=True)[1].ravel()
    reliability = np.full((rater_index.max() + 1, item_index.max() + 1), np.nan)
    reliability[rater_index, item_index] = labels

    def krippendorff_package(reliability=reliability):
        import krippendorff

        return krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")

    t_kr, kr_alpha = timed(krippendorff_package, options.repeat)
    print(f"  Kripp. alpha    ours {t_ours_alpha:6.3f} s ({ours_alpha.value:.10f})   "
          f"krippendorff.alpha (20 x 200k matrix) {t_kr:6.3f} s ({kr_alpha:.10f})")  # fmt: skip
    assert abs(ours_alpha.value - kr_alpha) < 1e-9

    t_boot, boot = timed(lambda: stats.fleiss_kappa(items, raters, labels, q, n_boot=1000), 1)
    print(f"  Fleiss' kappa with a 1000-replicate bootstrap CI: {t_boot:.3f} s  ci95={boot.ci95}")
    t_ds, ds = timed(lambda: stats.dawid_skene(items, raters, labels, q), 1)
    print(
        f"  Dawid-Skene (ours, not in the report): {t_ds:.2f} s, {ds.n_iter} iterations, "
        f"converged={ds.converged}"
    )
    print("  crowd-kit DawidSkene: not compared - crowd-kit 1.4.2 pulls in transformers, huggingface_hub,")
    print("    tokenizers, nltk and pyarrow (about 30 packages), too much for a test-only reference.")

    # (c) Peak memory of one full report (Python and NumPy allocations, traced).
    del arr, codes, arrays, matrix, reliability
    tracemalloc.start()
    agreement_report_compute(project_id=project_id)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # A fresh process that only computes one report: what a worker needs.
    child = subprocess.run(
        [sys.executable, "-c", WORKER_SNIPPET, str(project_id)],
        env={**os.environ}, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    worker_rss = child.stdout.split()[-2:]
    print("\n(c) Memory")
    print(f"  peak traced allocations during one full report: {peak / 2**20:.0f} MiB")
    print(
        f"  peak RSS of a fresh process computing one report: {worker_rss[1]} MiB "
        f"(after Django start-up, before the report: {worker_rss[0]} MiB)"
    )
    print(f"  process peak RSS over the whole run (incl. data generation): {max_rss:.0f} MiB")
    print(
        f"\nReport JSON size: {len(str(report.result)) / 1024:.0f} KiB; kappa {report.result['fleiss_kappa']}"
    )


if __name__ == "__main__":
    main()
