"""Writes for dataset releases: cutting one (queued for the background worker, or synchronously for
the command line) and building it into private storage.

How a build works (`release_build_run`, a core.jobs job of kind "release"):
1. The release is claimed (queued, or building in a worker that died: core.jobs). A ready release
   is never built again: releases are immutable, a new one is created instead. A failed one may
   be retried; what an interrupted build half wrote (items, files) is removed first.
2. Each example's current decision (consensus label, or Dawid-Skene for examples with none when the
   policy asks) is filtered by the policy; kept examples keep the split they had in the project's
   latest ready release, new ones get a stable stratified split (consistency.releases.policy).
3. The items are written (replacing those of an interrupted run), then the JSONL file: on
   PostgreSQL generated in SQL (`jsonb_build_object(...)::text`) and streamed out with COPY, on
   other databases line by line in Python; both produce the same bytes. The SHA-256 is computed as
   the bytes go to the file. The CSV file is written from the same rows in Python.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import logging
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction

from consistency.agreement.selectors import report_latest_succeeded
from consistency.agreement.statistics import dawid_skene
from consistency.releases import selectors
from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.releases.policy import (
    CSV_COLUMNS,
    RESERVED_TAGS,
    TAG_PATTERN,
    Candidate,
    PolicyError,
    ReleaseLine,
    ReleasePolicy,
    agreement_text,
    csv_cell,
    jsonb_text,
    passes_policy,
    rater_pseudonym,
    release_line,
    splits_assign,
)
from consistency.releases.tasks import release_build_task
from core.errors import ApplicationError, Conflict
from core.jobs.services import (
    WAITING_TEXT,
    JobKind,
    job_dispatched_here,
    job_enqueue,
    job_fail,
    job_progress,
    job_requeue_failed,
    job_run,
    job_stop_reason,
    job_succeed,
)
from core.models import AuditEntry
from core.services import audit_record
from projects.models import Example, Label, Project
from projects.selectors import guideline_in_force, slice_field_clean

logger = logging.getLogger(__name__)

ITEM_BATCH = 5_000
# EM on real annotations mostly settles within tens of iterations, but sparse or lopsided data can
# creep for hundreds; a release is a background job, so it can afford to let EM settle. Whatever
# happens, the release says whether it converged.
DAWID_SKENE_MAX_ITER = 1_000
COPY_JSONL_OPTIONS = "WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"


def rater_key(*, project: Project) -> bytes:
    """The HMAC key of a project's rater pseudonyms: derived from SECRET_KEY, so the same rater has
    the same id in every release of the project but different ids in different projects."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"concord-release-raters:{project.pk}".encode(), "sha256"
    ).digest()


def policy_clean(*, project: Project, policy: dict[str, Any] | None) -> ReleasePolicy:
    """A validated policy; the stratify field must be a metadata key the examples use."""
    try:
        cleaned = ReleasePolicy.from_dict(policy)
    except PolicyError as exc:
        raise ApplicationError(str(exc)) from None
    if cleaned.stratify_field and slice_field_clean(project=project, field=cleaned.stratify_field) == "":
        raise ApplicationError(f"No example has the metadata field {cleaned.stratify_field!r}.")
    if not cleaned.seed:
        cleaned = ReleasePolicy.from_dict({**cleaned.to_dict(), "seed": f"concord-{project.pk}"})
    return cleaned


def _next_tag(project: Project) -> str:
    taken = set(DatasetRelease.objects.filter(project=project).values_list("tag", flat=True))
    n = len(taken) + 1
    while f"v{n}" in taken:
        n += 1
    return f"v{n}"


def release_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    tag: str = "",
    policy: dict[str, Any] | None = None,
    run_in_background: bool = True,
) -> DatasetRelease:
    """Create a release (status building) and queue its build after the commit.

    `tag` is user-given (letters, digits, . _ -, at most 40, unique in the project) or the next
    "vN". The release records the guideline in force and the latest succeeded agreement report.
    """
    cleaned = policy_clean(project=project, policy=policy)
    tag = (tag or "").strip()
    if tag in RESERVED_TAGS:
        raise ApplicationError(f"{tag!r} is reserved; choose another tag.")
    if tag and not TAG_PATTERN.match(tag):
        raise ApplicationError(
            "A tag is 1-40 letters, digits, dots, dashes or underscores, starting with a letter or digit."
        )
    try:
        with transaction.atomic():
            release = DatasetRelease.objects.create(
                project=project,
                tag=tag or _next_tag(project),
                created_by=user if user is not None and user.is_authenticated else None,
                policy=cleaned.to_dict(),
                guideline_version=guideline_in_force(project=project),
                agreement_report=report_latest_succeeded(project=project),
                progress_text=WAITING_TEXT,
            )
            audit_record(
                action=AuditEntry.Action.RELEASE_CREATED,
                actor=user,
                project=project,
                target=release.tag,
                details={"policy": release.policy},
            )
            if run_in_background:
                job_enqueue(job=release)
            else:
                job_dispatched_here(job=release)
    except IntegrityError:
        raise Conflict(f"The project already has a release tagged {tag!r}.") from None
    return release


class EmptyRelease(ApplicationError):
    """No example passed the policy, and the caller did not ask for an empty release."""


def release_build(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    tag: str = "",
    policy: dict[str, Any] | None = None,
    allow_empty: bool = True,
) -> DatasetRelease:
    """Create a release and build it now (the command line): the same service the worker runs.

    With allow_empty=False a release that turns out to hold no example is not kept (its row and
    files are deleted again) and EmptyRelease is raised: an empty file is rarely what was meant.
    """
    release = release_create(project=project, user=user, tag=tag, policy=policy, run_in_background=False)
    release_build_run(release_id=release.pk)
    release.refresh_from_db()
    if not allow_empty and release.status == DatasetRelease.Status.READY and release.n_items == 0:
        _delete_files(release)
        release.delete()
        cleaned = ReleasePolicy.from_dict(release.policy)
        raise EmptyRelease(
            f"No example passes the policy (sources {', '.join(cleaned.sources)}, minimum agreement "
            f"{cleaned.min_agreement:g}{', ambiguous excluded' if cleaned.exclude_ambiguous else ''}); "
            "no release was kept and no file written."
        )
    return release


def release_build_run(*, release_id: int) -> DatasetRelease | None:
    """Claim a release and build it (core.jobs.services.job_run). The task's whole job; None if
    not ours to build (ready or failed, or building in a live worker)."""
    return job_run(kind="release", job_id=release_id)


def _release_run(release: DatasetRelease) -> None:
    """The "release" job's run: build it, or fail it with the reason (its leftovers go with it)."""
    release = DatasetRelease.objects.select_related("project").get(pk=release.pk)
    _progress(release, 0, "Collecting clean labels")
    try:
        _build(release)
    except Exception as exc:
        logger.exception("Release %s failed", release.pk)
        job_fail(
            job=release,
            message=f"The build failed: it stopped because of {job_stop_reason(exc)}.",
            fields={"progress_text": ""},
            retryable=True,
        )


def _progress(release: DatasetRelease, percent: int, text: str) -> None:
    job_progress(job=release, percent=percent, text=text)


def release_leftovers_remove(release: DatasetRelease) -> None:
    """Delete what a build that did not finish wrote: its items and its files (those named on the
    row, and any in the project's folder named after the release). Never for a ready release."""
    if release.status == DatasetRelease.Status.READY:
        return
    DatasetReleaseItem.objects.filter(release_id=release.pk).delete()
    _delete_files(release)


def _delete_files(release: DatasetRelease) -> None:
    names = {name for name in (release.jsonl_file, release.csv_file) if name}
    folder = f"releases/{release.project_id}"
    with contextlib.suppress(FileNotFoundError):  # no file of the project was ever written
        names.update(
            f"{folder}/{name}"
            for name in default_storage.listdir(folder)[1]
            if name.startswith(f"{release.pk}-")
        )
    for name in names:
        if default_storage.exists(name):
            default_storage.delete(name)


def release_retry(*, release: DatasetRelease) -> DatasetRelease:
    """Build a failed release again, under its tag and policy, recording the guideline version and
    agreement report in force now (those it is built on)."""
    project = release.project
    return job_requeue_failed(
        job=release,
        fields={
            "guideline_version": guideline_in_force(project=project),
            "agreement_report": report_latest_succeeded(project=project),
        },
    )


ITEM_COLUMNS = (
    "example_id", "external_id", "label", "source", "split", "agreement", "n_raters",
    "guideline_versions", "rationale", "raters",
)  # fmt: skip
COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    """A text value in COPY's text format."""
    return COPY_NULL if value is None else value.translate(_COPY_ESCAPES)


def _copy_items(release: DatasetRelease, rows: list[dict]) -> None:
    """Insert the items with COPY FROM STDIN in chunks (PostgreSQL): far faster than INSERTs at scale.

    Only the free-text columns need escaping; source and split are fixed words, the rest numbers
    and JSON written by jsonb_text (which escapes control characters itself, but may hold a backslash).
    """
    table = DatasetReleaseItem._meta.db_table
    sql = f"COPY {table} (release_id, {', '.join(ITEM_COLUMNS)}) FROM STDIN"
    release_id = int(release.pk)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 50_000):
            lines = []
            for row in rows[start : start + 50_000]:
                versions = row["guideline_versions"]
                raters = row["raters"]
                agreement = row["agreement"]
                lines.append(
                    f"{release_id}\t{row['example_id']}\t{_copy_text(row['external_id'])}\t"
                    f"{_copy_text(row['label'])}\t{row['source']}\t{row['split']}\t"
                    f"{COPY_NULL if agreement is None else repr(agreement)}\t{row['n_raters']}\t"
                    f"{jsonb_text(versions) if versions else '[]'}\t{_copy_text(row['rationale'])}\t"
                    f"{COPY_NULL if raters is None else _copy_text(jsonb_text(raters))}\n"
                )
            cursor.cursor.copy_expert(sql, io.StringIO("".join(lines)), size=256 * 1024)


# -------------------------------------------------------------------------------------------------
# Choosing the clean examples


def _candidates(
    project: Project, policy: ReleasePolicy, *, dawid_skene_fit: dict | None = None
) -> tuple[list[dict], dict[int, Any]]:
    """The rows of the release, sorted by external id, before splits; and the metadata strata.
    With Dawid-Skene in the policy, `dawid_skene_fit` receives whether it converged and in how
    many iterations."""
    labels = dict(Label.objects.filter(project=project).values_list("id", "name"))
    votes = selectors.current_votes(project=project)
    rationales = selectors.gold_rationales(project=project) if policy.include_rationale else {}
    key = rater_key(project=project) if policy.include_raters else b""
    rows: list[dict] = []

    def add(example_id, external_id, label_id, source, agreement, n_raters):
        decision = votes.get(example_id)
        candidate = Candidate(
            external_id=external_id,
            label=labels[label_id],
            source=source,
            agreement=agreement,
            n_raters=n_raters,
            ambiguous=bool(decision and decision.ambiguous),
        )
        if not passes_policy(candidate, policy):
            return
        raters = None
        if policy.include_raters:
            votes_of = decision.votes if decision else {}
            raters = {rater_pseudonym(key=key, user_id=r): labels[lab] for r, lab in votes_of.items()}
        rows.append(
            {
                "example_id": example_id,
                "external_id": external_id,
                "label": candidate.label,
                "source": source,
                "agreement": None if agreement is None else round(float(agreement), 4),
                "n_raters": n_raters,
                "guideline_versions": sorted(decision.versions) if decision else [],
                "rationale": _rationale(rationales, example_id, source, label_id),
                "raters": raters,
            }
        )

    # Every example with a consensus row (even excluded) is decided; Dawid-Skene fills in the rest.
    decided = set(project.examples.filter(consensus__isnull=False).values_list("id", flat=True))
    for example_id, external_id, label_id, source, agreement, n_raters in selectors.consensus_rows(
        project=project
    ):
        if source == "gold":
            decision = votes.get(example_id)
            if decision and decision.votes:
                agreement = sum(1 for lab in decision.votes.values() if lab == label_id) / len(decision.votes)
        add(example_id, external_id, label_id, source, agreement, n_raters)
    if policy.use_dawid_skene:
        for example_id, external_id, label_id, agreement, n_raters in _dawid_skene_rows(
            labels, votes, decided, policy.min_posterior, fit=dawid_skene_fit
        ):
            add(example_id, external_id, label_id, "dawid_skene", agreement, n_raters)
    rows.sort(key=lambda row: row["external_id"])
    strata: dict[int, Any] = {}
    if policy.stratify_field:
        field = policy.stratify_field
        examples = project.examples.order_by().values_list("id", "metadata").iterator(chunk_size=5000)
        for example_id, metadata in examples:
            value = metadata.get(field) if isinstance(metadata, dict) else None
            strata[example_id] = "" if value is None else jsonb_text(value)
    return rows, strata


def _rationale(
    rationales: dict[int, tuple[int, str]], example_id: int, source: str, label_id: int
) -> str | None:
    """The SME's rationale, only on a gold label it was written for: a label from Dawid-Skene or
    from the raters (after the example was sent back for relabeling, say) never carries the
    reasoning behind a different decision."""
    if source != "gold":
        return None
    found = rationales.get(example_id)
    return found[1] if found is not None and found[0] == label_id else None


def _dawid_skene_rows(
    labels: dict[int, str], votes: dict, decided: set[int], min_posterior: float, *, fit: dict | None = None
) -> Iterator:
    """Dawid-Skene over all current annotations; rows for undecided examples whose most probable
    label has at least `min_posterior`. Agreement is the share of raters who chose that label.
    `fit` (if given) receives whether the EM converged and its iteration count."""
    label_ids = sorted(labels)
    code = {lab: i for i, lab in enumerate(label_ids)}
    items, raters, codes = [], [], []
    for example_id, decision in votes.items():
        for rater_id, label_id in decision.votes.items():
            items.append(example_id)
            raters.append(rater_id)
            codes.append(code[label_id])
    if not items:
        return
    result = dawid_skene(
        np.asarray(items),
        np.asarray(raters),
        np.asarray(codes),
        len(label_ids),
        max_iter=DAWID_SKENE_MAX_ITER,
    )
    if fit is not None:
        fit.update(converged=result.converged, n_iter=result.n_iter, max_iter=result.max_iter)
    for example_id, posterior, best in zip(result.items, result.posterior, result.map_label, strict=True):
        example_id = int(example_id)
        if example_id in decided or float(posterior[best]) < min_posterior:
            continue
        decision = votes[example_id]
        label_id = label_ids[int(best)]
        share = sum(1 for lab in decision.votes.values() if lab == label_id) / len(decision.votes)
        yield example_id, decision.external_id, label_id, share, len(decision.votes)


# -------------------------------------------------------------------------------------------------
# Building


def _build(release: DatasetRelease) -> None:
    project = release.project
    policy = ReleasePolicy.from_dict(release.policy)
    dawid_skene_fit: dict[str, Any] = {}
    rows, strata = _candidates(project, policy, dawid_skene_fit=dawid_skene_fit)
    _progress(release, 30, f"Assigning splits to {len(rows)} examples")
    previous = selectors.release_splits(release=selectors.release_latest_ready(project=project))
    splits = splits_assign(
        items=((row["external_id"], (row["label"], strata.get(row["example_id"], ""))) for row in rows),
        previous=previous,
        ratios=policy.ratios,
        seed=policy.seed,
    )
    counts: dict[str, Any] = {"labels": Counter(), "splits": Counter(), "label_split": defaultdict(Counter)}
    for row in rows:
        split = row["split"] = splits[row["external_id"]]
        counts["labels"][row["label"]] += 1
        counts["splits"][split] += 1
        counts["label_split"][row["label"]][split] += 1
    with transaction.atomic():
        DatasetReleaseItem.objects.filter(release=release).delete()  # an interrupted run's rows
        if connection.vendor == "postgresql":
            _copy_items(release, rows)
        else:
            for start in range(0, len(rows), ITEM_BATCH):
                DatasetReleaseItem.objects.bulk_create(
                    DatasetReleaseItem(release=release, **row) for row in rows[start : start + ITEM_BATCH]
                )
    n_items = len(rows)
    del rows, splits, strata
    _progress(release, 60, "Writing the JSONL file")
    jsonl_name = f"releases/{project.pk}/{release.pk}-{release.tag}.jsonl"
    csv_name = f"releases/{project.pk}/{release.pk}-{release.tag}.csv"
    jsonl_bytes, sha256 = _write_file(
        jsonl_name, lambda out: jsonl_write(release=release, policy=policy, out=out)
    )
    _progress(release, 85, "Writing the CSV file")
    csv_bytes, _ = _write_file(csv_name, lambda out: csv_write(release=release, policy=policy, out=out))
    job_succeed(
        job=release,
        fields={
            "progress_text": "",
            "n_items": n_items,
            "counts": {
                "labels": dict(sorted(counts["labels"].items())),
                "splits": {s: counts["splits"].get(s, 0) for s in ("train", "dev", "test")},
                "label_split": {
                    label: {s: c.get(s, 0) for s in ("train", "dev", "test")}
                    for label, c in sorted(counts["label_split"].items())
                },
                **({"dawid_skene": dawid_skene_fit} if dawid_skene_fit else {}),
            },
            "sha256": sha256,
            "jsonl_file": jsonl_name,
            "jsonl_bytes": jsonl_bytes,
            "csv_file": csv_name,
            "csv_bytes": csv_bytes,
        },
    )


class _HashingWriter:
    """A file-like sink that hashes and counts what passes through (COPY writes str or bytes)."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.digest.update(data)
        self.size += len(data)
        self.handle.write(data)
        return len(data)


def _write_file(name: str, produce: Callable[[_HashingWriter], None]) -> tuple[int, str]:
    """Write into a temporary file, then save it under `name` in private storage."""
    with tempfile.TemporaryFile() as handle:
        writer = _HashingWriter(handle)
        produce(writer)
        handle.seek(0)
        if default_storage.exists(name):
            default_storage.delete(name)
        saved = default_storage.save(name, File(handle))
        if saved != name:  # pragma: no cover - storage renamed it: should not happen after the delete
            raise ApplicationError("Could not store the release file under its name.")
    return writer.size, writer.digest.hexdigest()


def _order_by_external_id() -> str:
    # Byte order of UTF-8 = code point order = Python's str sort: the same order on both databases.
    return 'i.external_id COLLATE "C"' if connection.vendor == "postgresql" else "i.external_id"


def jsonl_sql(*, release: DatasetRelease, policy: ReleasePolicy) -> str:
    """The SELECT that yields one canonical JSONL line per item (PostgreSQL)."""
    item_table = DatasetReleaseItem._meta.db_table
    example_table = Example._meta.db_table
    optional = ""
    if policy.include_rationale:
        optional += ", 'rationale', i.rationale"
    if policy.include_raters:
        optional += ", 'raters', i.raters"
    return (
        "SELECT jsonb_build_object('external_id', i.external_id, 'text', e.text, 'label', i.label, "
        "'source', i.source, 'split', i.split, 'agreement', round(i.agreement::numeric, 4), "
        "'n_raters', i.n_raters, 'guideline_versions', i.guideline_versions, 'metadata', e.metadata"
        f"{optional})::text FROM {item_table} i JOIN {example_table} e ON e.id = i.example_id "
        f"WHERE i.release_id = {int(release.pk)} ORDER BY {_order_by_external_id()}"
    )


def jsonl_write(*, release: DatasetRelease, policy: ReleasePolicy, out, force_python: bool = False) -> None:
    """Write the release's JSONL to `out`: COPY on PostgreSQL, else (or if forced) Python."""
    if connection.vendor == "postgresql" and not force_python:
        with connection.cursor() as cursor:
            # CSV format with control characters as delimiter and quote: JSON text holds neither
            # (nor raw newlines), so COPY writes each line untouched, where its text format would
            # double every backslash.
            cursor.cursor.copy_expert(
                f"COPY ({jsonl_sql(release=release, policy=policy)}) TO STDOUT {COPY_JSONL_OPTIONS}",
                out,
                size=256 * 1024,
            )
        return
    buffer: list[str] = []
    for line in release_lines(release=release):
        buffer.append(
            release_line(
                line, include_rationale=policy.include_rationale, include_raters=policy.include_raters
            )
        )
        buffer.append("\n")
        if len(buffer) >= 2000:
            out.write("".join(buffer))
            buffer = []
    if buffer:
        out.write("".join(buffer))


def _json_value(value):
    import json

    return json.loads(value) if isinstance(value, str) else value


def release_lines(*, release: DatasetRelease) -> Iterator[ReleaseLine]:
    """The release's items joined to their examples, in external id order, read in chunks."""
    item_table = DatasetReleaseItem._meta.db_table
    example_table = Example._meta.db_table
    postgres = connection.vendor == "postgresql"
    metadata = "e.metadata::text" if postgres else "e.metadata"
    sql = (
        f"SELECT i.external_id, e.text, i.label, i.source, i.split, i.agreement, i.n_raters, "
        f"i.guideline_versions, {metadata}, i.rationale, i.raters FROM {item_table} i "
        f"JOIN {example_table} e ON e.id = i.example_id WHERE i.release_id = %s "
        f"ORDER BY {_order_by_external_id()}"
    )
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, [release.pk])
        while True:
            chunk = cursor.fetchmany(2000)
            if not chunk:
                break
            for (
                eid,
                text,
                label,
                source,
                split,
                agreement,
                n_raters,
                versions,
                meta,
                rationale,
                raters,
            ) in chunk:
                yield ReleaseLine(
                    external_id=eid,
                    text=text,
                    label=label,
                    source=source,
                    split=split,
                    agreement=agreement,
                    n_raters=n_raters,
                    guideline_versions=_json_value(versions) or [],
                    # PostgreSQL's jsonb text is already canonical; elsewhere, reformat to match it.
                    metadata_json=meta if postgres else jsonb_text(_json_value(meta)),
                    rationale=rationale,
                    raters=_json_value(raters),
                )


def _formula_safe_sql(column: str) -> str:
    """SQL doing what csv_cell does: a leading =, +, -, @, tab or CR gets a single quote in front."""
    starts = "'=', '+', '-', '@', E'\\t', E'\\r'"
    return f"CASE WHEN left({column}, 1) IN ({starts}) THEN '''' || {column} ELSE {column} END"


def csv_sql(*, release: DatasetRelease, policy: ReleasePolicy) -> str:
    """The SELECT behind the CSV file on PostgreSQL: the same columns and cells as the Python path."""
    item_table = DatasetReleaseItem._meta.db_table
    example_table = Example._meta.db_table
    columns = [
        f"{_formula_safe_sql('i.external_id')} AS external_id",
        f"{_formula_safe_sql('e.text')} AS text",
        f"{_formula_safe_sql('i.label')} AS label",
        "i.source",
        "i.split",
        "round(i.agreement::numeric, 4) AS agreement",
        "i.n_raters",
        "i.guideline_versions::text AS guideline_versions",
        "e.metadata::text AS metadata",
    ]
    if policy.include_rationale:
        columns.append(f"{_formula_safe_sql('i.rationale')} AS rationale")
    if policy.include_raters:
        columns.append("i.raters::text AS raters")
    return (
        f"SELECT {', '.join(columns)} FROM {item_table} i JOIN {example_table} e ON e.id = i.example_id "
        f"WHERE i.release_id = {int(release.pk)} ORDER BY {_order_by_external_id()}"
    )


def csv_write(*, release: DatasetRelease, policy: ReleasePolicy, out, force_python: bool = False) -> None:
    """The release as CSV (header, one row per item); formula-like cells are escaped.

    PostgreSQL writes it with COPY (lines end in LF, empty text quoted); the Python path ends lines
    in CRLF. Both parse to the same rows. The JSONL is the canonical, byte-stable format.
    """
    if connection.vendor == "postgresql" and not force_python:
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY ({csv_sql(release=release, policy=policy)}) TO STDOUT WITH (FORMAT csv, HEADER)",
                out,
                size=256 * 1024,
            )
        return
    import csv
    import io

    columns = list(CSV_COLUMNS)
    if policy.include_rationale:
        columns.append("rationale")
    if policy.include_raters:
        columns.append("raters")
    buffer = io.StringIO()
    # RFC 4180 line ends: with "\r\n" as terminator the writer quotes any cell holding \r or \n.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for n, line in enumerate(release_lines(release=release), start=1):
        row = [
            line.external_id,
            line.text,
            line.label,
            line.source,
            line.split,
            agreement_text(line.agreement) or "",
            line.n_raters,
            jsonb_text(list(line.guideline_versions)),
            line.metadata_json,
        ]
        if policy.include_rationale:
            row.append(line.rationale or "")
        if policy.include_raters:
            row.append(jsonb_text(line.raters) if line.raters is not None else "")
        writer.writerow([csv_cell(cell) for cell in row])
        if n % 2000 == 0:
            out.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue())


# The "release" jobs (core.jobs), registered by ConsistencyConfig.ready.
RELEASE_JOBS = JobKind(
    name="release",
    model=DatasetRelease,
    task=release_build_task,
    run=lambda release: _release_run(release),
    leftovers_remove=release_leftovers_remove,
    retry=lambda release, user: release_retry(release=release),
)
