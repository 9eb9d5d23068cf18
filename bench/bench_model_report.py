"""Benchmark of the model report and the label-issue ranking on PostgreSQL: 1,000,000 examples with
3 annotations each (from a pool of 10 raters), consensus labels, 50,000 gold examples, and a model's
predictions with probabilities over 10 labels for every example.

Prints each step's time as a ratio to a floor measured in the same run (COPY the same integer
columns out of PostgreSQL into NumPy, the least any report must read), and peak memory (traced
allocations, and the peak RSS of a fresh process computing one report). Needs PostgreSQL; it drops
and recreates its own database (default `concord_bench_model_report`).

    BENCH_MODEL_REPORT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench_loop \
        .venv/bin/python bench/bench_model_report.py
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/concord_bench_model_report"

from bench_agreement import recreate_database, timed  # noqa: E402


def _copy(table: str, columns: str, lines) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", io.StringIO("".join(lines)))


def load(n: int, per_item: int, n_raters: int, n_labels: int, n_gold: int, seed: int) -> tuple[int, int]:
    """The project, filled with COPY; returns (project id, prediction set id)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from projects.models import Label, Membership, PredictionSet, Project, Role

    rng = np.random.default_rng(seed)
    project = Project.objects.create(name="Bench", slug="bench", overlap=per_item)
    Label.objects.bulk_create(
        Label(project=project, name=f"label-{i}", shortcut_key="123456789b"[i], position=i)
        for i in range(n_labels)
    )
    label_ids = np.array(list(project.labels.order_by("position").values_list("id", flat=True)))
    User = get_user_model()  # noqa: N806
    users = User.objects.bulk_create([User(username=f"rater{i:02d}", password="!") for i in range(n_raters)])
    Membership.objects.bulk_create([Membership(user=u, project=project, role=Role.LABELER) for u in users])
    user_ids = np.array([u.pk for u in users])

    channels = np.array(["email", "chat", "phone", "social", "letter"])
    channel = channels[rng.integers(0, len(channels), n)]
    _copy(
        "projects_example",
        "project_id, external_id, text, data, metadata, annotation_count, created_at",
        (
            f'{project.pk}\tex-{i}\tMessage {i}\t{{}}\t{{"channel": "{c}"}}\t{per_item}\t2026-01-01\n'
            for i, c in enumerate(channel.tolist())
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM projects_example WHERE project_id = %s ORDER BY id", [project.pk])
        example_ids = np.array([row[0] for row in cursor.fetchall()])

    truth = rng.integers(0, n_labels, n)
    raters = np.argsort(rng.random((n, n_raters)), axis=1)[:, :per_item]
    accuracy = np.linspace(0.95, 0.6, n_raters)
    given = np.where(
        rng.random((n, per_item)) < accuracy[raters],
        truth[:, None],
        (truth[:, None] + rng.integers(1, n_labels, (n, per_item))) % n_labels,
    )
    _copy(
        "labeling_annotation",
        "example_id, rater_id, label_id, ambiguous, ambiguous_note, note, source, created_at, updated_at",
        (
            f"{e}\t{r}\t{lab}\tf\t\t\timport\t2026-01-01\t2026-01-01\n"
            for e, r, lab in zip(
                np.repeat(example_ids, per_item).tolist(),
                user_ids[raters.ravel()].tolist(),
                label_ids[given.ravel()].tolist(),
                strict=True,
            )
        ),
    )
    # Consensus: the plurality (ties to the lowest code), with its share.
    counts = np.zeros((n, n_labels), dtype=np.int64)
    for c in range(per_item):
        np.add.at(counts, (np.arange(n), given[:, c]), 1)
    consensus = counts.argmax(axis=1)
    share = counts.max(axis=1) / per_item
    _copy(
        "consistency_consensuslabel",
        "example_id, label_id, source, agreement, n_raters, decided_at",
        (
            f"{e}\t{lab}\t{'unanimous' if s == 1 else 'majority'}\t{s:.4f}\t{per_item}\t2026-01-01\n"
            for e, lab, s in zip(
                example_ids.tolist(), label_ids[consensus].tolist(), share.tolist(), strict=True
            )
        ),
    )
    gold_rows = np.sort(rng.choice(n, n_gold, replace=False))
    _copy(
        "projects_goldlabel",
        "project_id, example_id, label_id, source, created_at",
        (
            f"{project.pk}\t{example_ids[i]}\t{label_ids[truth[i]]}\timported\t2026-01-01\n"
            for i in gold_rows.tolist()
        ),
    )
    # The model: better on some channels than others, so the slices have different gaps.
    skill = {"email": 3.5, "chat": 1.5, "phone": 2.5, "social": 1.0, "letter": 3.0}
    logits = rng.normal(0.0, 1.0, (n, n_labels))
    logits[np.arange(n), truth] += np.vectorize(skill.get)(channel)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    del logits
    prediction_set = PredictionSet.objects.create(
        project=project,
        model_name="bench",
        version="1",
        file_sha256="0" * 64,
        label_ids=label_ids.tolist(),
        n_predictions=n,
    )
    predicted = probs.argmax(axis=1)
    text = np.char.mod("%.5f", probs)
    _copy(
        "projects_prediction",
        "prediction_set_id, example_id, label_id, probabilities",
        (
            f"{prediction_set.pk}\t{e}\t{lab}\t[{', '.join(row)}]\n"
            for e, lab, row in zip(
                example_ids.tolist(), label_ids[predicted].tolist(), text.tolist(), strict=True
            )
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return project.pk, prediction_set.pk


def floor(project_id: int, prediction_set_id: int) -> float:
    """COPY the integer columns a model report must read (predictions, gold, consensus, the
    annotations on gold examples and the examples' slice values) into NumPy."""
    from django.db import connection

    queries = [
        f"SELECT example_id, label_id FROM projects_prediction WHERE prediction_set_id = {prediction_set_id}",
        f"SELECT example_id, label_id FROM projects_goldlabel WHERE project_id = {project_id}",
        "SELECT c.example_id, c.label_id FROM consistency_consensuslabel c JOIN projects_example e ON e.id = "
        f"c.example_id WHERE e.project_id = {project_id}",
        "SELECT a.example_id, a.rater_id, a.label_id FROM labeling_annotation a JOIN projects_goldlabel g ON "
        f"g.example_id = a.example_id WHERE g.project_id = {project_id}",
        f"SELECT id, length(metadata->>'channel') FROM projects_example WHERE project_id = {project_id}",
    ]
    start = time.perf_counter()
    for sql in queries:
        buffer = io.StringIO()
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(f"COPY ({sql}) TO STDOUT", buffer)
        np.fromstring(buffer.getvalue(), dtype=np.int64, sep=" ")  # noqa: NPY201
    return time.perf_counter() - start


WORKER_SNIPPET = """
import re, sys
import django
django.setup()
from consistency.quality.selectors import model_report_build
from projects.models import PredictionSet
def hwm():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+)", f.read()).group(1)) // 1024
prediction_set = PredictionSet.objects.get(pk=int(sys.argv[1]))
before = hwm()
if sys.argv[2] == "report":
    model_report_build(project=prediction_set.project, prediction_set=prediction_set, slice_field="channel")
else:
    from consistency.quality.services import label_issues_send
    label_issues_send(project=prediction_set.project, user=None, prediction_set=prediction_set, dry_run=True)
print(before, hwm())
"""


def line(what: str, seconds: float, floor_seconds: float | None = None) -> None:
    ratio = f"  = {seconds / floor_seconds:.1f}x the floor" if floor_seconds else ""
    print(f"  {what:<56} {seconds:7.2f} s{ratio}")


def traced(fn):
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, result


def worker_rss(prediction_set_id: int, what: str) -> tuple[str, str]:
    child = subprocess.run(
        [sys.executable, "-c", WORKER_SNIPPET, str(prediction_set_id), what],
        env={**os.environ},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = child.stdout.split()[-2:]
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--per-item", type=int, default=3)
    parser.add_argument("--raters", type=int, default=10)
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--gold", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=2)
    options = parser.parse_args()

    url = os.environ.get("BENCH_MODEL_REPORT_DATABASE_URL") or DEFAULT_URL
    if os.environ.get("DATABASE_URL", "").startswith("postgres") and not os.environ.get(
        "BENCH_MODEL_REPORT_DATABASE_URL"
    ):
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + DEFAULT_URL.rsplit("/", 1)[1]
    if not url.startswith("postgres"):
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(
        f"Loading {options.examples:,} examples x {options.per_item} annotations ({options.raters} raters, "
        f"{options.labels} labels), {options.gold:,} gold, a model's probabilities for every example ..."
    )
    t_load, (project_id, prediction_set_id) = timed(
        lambda: load(
            options.examples, options.per_item, options.raters, options.labels, options.gold, options.seed
        )
    )
    print(f"  loaded with COPY in {t_load:.1f} s")

    from consistency.quality.label_issues import rank_label_issues
    from consistency.quality.selectors import label_issue_arrays, model_report_build
    from consistency.quality.services import label_issues_send
    from projects.models import PredictionSet

    prediction_set = PredictionSet.objects.get(pk=prediction_set_id)
    project = prediction_set.project
    t_floor = min(floor(project_id, prediction_set_id) for _ in range(options.repeat))
    t_report, report = timed(
        lambda: model_report_build(project=project, prediction_set=prediction_set, slice_field="channel"),
        options.repeat,
    )
    t_plain, _ = timed(
        lambda: model_report_build(project=project, prediction_set=prediction_set), options.repeat
    )
    print(f"\n(a) model_report, best of {options.repeat}")
    line("floor: COPY the integer columns it reads into NumPy", t_floor)
    line("model_report (no slices)", t_plain, t_floor)
    line("model_report --slice channel (5 values)", t_report, t_floor)
    kappa = report["model_kappa_vs_consensus"]
    top = report["slices"][0]
    print(
        f"  model accuracy {report['model_accuracy']['value']:.4f}, HLP {report['hlp']['value']:.4f} on "
        f"{report['n_gold']:,} gold; largest gap: {top['value']} {top['gap']:+.3f}; "
        f"kappa vs consensus {kappa['value']:.4f} on {kappa['n']:,}"
    )

    t_arrays, arrays = timed(lambda: label_issue_arrays(project=project, prediction_set=prediction_set), 1)
    t_rank, ranking = timed(
        lambda: rank_label_issues(
            arrays.labels, len(arrays.label_ids), pred_probs=arrays.pred_probs, annotations=arrays.annotations
        ),
        1,
    )
    t_send, sent = timed(
        lambda: label_issues_send(project=project, user=None, prediction_set=prediction_set, dry_run=True), 1
    )
    print("\n(b) label issues (CROWDLAB: raters and the model's probabilities)")
    line("arrays (current labels, raters matrix, probabilities)", t_arrays, t_floor)
    line("ranking kernel", t_rank)
    line("the whole ranking as the service runs it (dry run)", t_send, t_floor)
    print(
        f"  {sent['n_issues']:,} likely label errors among {sent['n_examples']:,} examples ({ranking.method})"
    )

    _, report_peak, _ = traced(
        lambda: model_report_build(project=project, prediction_set=prediction_set, slice_field="channel")
    )
    _, issues_peak, _ = traced(
        lambda: label_issues_send(project=project, user=None, prediction_set=prediction_set, dry_run=True)
    )
    report_rss = worker_rss(prediction_set_id, "report")
    issues_rss = worker_rss(prediction_set_id, "issues")
    print("\n(c) Memory")
    print(
        f"  peak traced allocations: model report {report_peak:.0f} MiB, label issues {issues_peak:.0f} MiB"
    )
    print(
        f"  peak RSS of a fresh process: model report {report_rss[1]} MiB, label issues {issues_rss[1]} MiB "
        f"(after Django start-up: {report_rss[0]} MiB)"
    )


if __name__ == "__main__":
    main()
