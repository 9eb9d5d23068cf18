"""Writes for dataset releases: cutting one (queued for the background worker, or synchronously for
the command line) and building it into private storage.

How a build works (`release_build_run`, a core.jobs job of kind "release"):
1. The release is claimed (queued, or building in a worker that died: core.jobs). A ready release
   is never built again: releases are immutable, a new one is created instead. A failed one may
   be retried; what an interrupted build half wrote (items, files) is removed first.
2. Select: the policy (consistency.releases.policy) keeps the clean decided examples (Dawid-Skene
   adds undecided ones when the policy asks); a kept example keeps the split it had in the
   project's latest ready release, a new one gets a stable stratified split (SplitAssigner's
   rule), and they go into the release's items. On PostgreSQL this is SQL end to end: one query
   of the clean rows into a temporary table, the counts per label and stratum back to
   SplitAssigner, one INSERT ... SELECT of the items (_items_write_sql). Elsewhere the candidates
   stream through the same pure functions in Python (_items_write_python); a test holds both
   paths to the same items.
3. Write: the items' file rows (each joined to its example) reach one writer per format
   (consistency.releases.writers), all formats in the same pass, on every database, in external
   id order. On PostgreSQL they stream out of the items' INSERT itself (COPY of its RETURNING
   rows), so the files are written while the items go in; elsewhere one query reads them back
   (selectors.release_rows).
4. Store and hash: the files go to private storage; the JSONL's SHA-256 is computed as it is written.
No stage holds all rows in Python: only counts per label, split and stratum, and a batch.
"""

from __future__ import annotations

import contextlib
import heapq
import hmac
import json
import logging
import os
import secrets
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, connection, transaction

from consistency.agreement.selectors import report_latest_succeeded
from consistency.agreement.statistics import dawid_skene
from consistency.releases import selectors
from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.releases.policy import (
    NO_TAGS,
    RESERVED_TAGS,
    SPLITS,
    TAG_PATTERN,
    PolicyError,
    ReleasePolicy,
    SplitAssigner,
    policy_accepts,
    rater_pseudonym,
    span_objects,
    spans_label_text,
    split_rank,
    tag_filter_accepts,
)
from consistency.releases.selectors import Candidate
from consistency.releases.tasks import release_build_task
from consistency.releases.writers import CsvWriter, HashingSink, JsonlWriter
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
from projects.models import Label, Project, TaskType
from projects.selectors import guideline_in_force, slice_field_clean

logger = logging.getLogger(__name__)

# EM on real annotations mostly settles within tens of iterations, but sparse or lopsided data can
# creep for hundreds; a release is a background job, so it can afford to let EM settle. Whatever
# happens, the release says whether it converged.
DAWID_SKENE_MAX_ITER = 1_000


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
    if project.task_type != TaskType.SINGLE and cleaned.use_dawid_skene:
        raise ApplicationError("Dawid-Skene labels single-label projects only; choose other sources.")
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


# -------------------------------------------------------------------------------------------------
# Choosing the clean examples


def _rationale(
    rationales: dict[int, tuple[int | tuple, str]], example_id: int, source: str, label_id: int | tuple
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
# The build: three stages, each doing one thing


def _build(release: DatasetRelease) -> None:
    """Build a claimed release: (1) select the clean rows and hand out their splits into the
    release's items; (2) write every format in one pass over the items' file rows (on PostgreSQL
    streamed out of the items' insert while it runs); (3) store the files and record their sizes
    and the JSONL's SHA-256."""
    project = release.project
    policy = ReleasePolicy.from_dict(release.policy)
    dawid_skene_fit: dict[str, Any] = {}
    written: dict[str, Any] = {}

    def items_write(write: RowsHandle) -> None:
        written["counts"], written["n_items"] = _items_write(release, project, policy, dawid_skene_fit, write)

    stored = _files_write(release, project, policy, items_write)
    counts, n_items = written["counts"], written["n_items"]
    job_succeed(
        job=release,
        fields={
            "progress_text": "",
            "n_items": n_items,
            "counts": {
                "labels": dict(sorted(counts["labels"].items())),
                "splits": {s: counts["splits"].get(s, 0) for s in SPLITS},
                "label_split": {
                    label: {s: c.get(s, 0) for s in SPLITS}
                    for label, c in sorted(counts["label_split"].items())
                },
                **({"dawid_skene": dawid_skene_fit} if dawid_skene_fit else {}),
            },
            **stored,
        },
    )


# Stage 1: the clean rows, their splits, the items.

ITEM_COLUMNS = (
    "example_id", "external_id", "label", "source", "split", "agreement", "n_raters",
    "guideline_versions", "rationale", "raters", "labels", "spans",
)  # fmt: skip
ITEM_BATCH = 20_000


RowsHandle = Callable[[list[tuple]], None]


def _discard(rows: list[tuple]) -> None:
    pass


def _items_write(
    release: DatasetRelease, project: Project, policy: ReleasePolicy, dawid_skene_fit: dict, write: RowsHandle
) -> tuple[dict[str, Any], int]:
    """Select the clean rows, hand out their splits and write them into the release's items, and
    hand `write` the items' file rows in external id order (selectors.release_rows' tuples);
    return the counts per label and split and the number of items. PostgreSQL does it in SQL,
    the rows streamed out of the items' insert (_items_write_sql); other databases select in
    Python (_items_write_python: the same items), then read the rows back."""
    with transaction.atomic():
        DatasetReleaseItem.objects.filter(release=release).delete()  # an interrupted run's rows
        if connection.vendor == "postgresql":
            pairs, n_items = _items_write_sql(release, project, policy, dawid_skene_fit, write)
        else:
            pairs, n_items = _items_write_python(release, project, policy, dawid_skene_fit)
            _progress(release, 60, f"Writing the files of {n_items} examples")
            selectors.release_rows(release=release, handle=write)
        if project.task_type == TaskType.SPANS:
            label_pairs = _span_label_pairs(release)
    # pairs: (the item's label names, split) -> items. A multi-label item counts for each of its
    # labels; a span item for each label it has a span of (label_pairs: its pairs have no names).
    counts: dict[str, Any] = {"labels": Counter(), "splits": Counter(), "label_split": defaultdict(Counter)}
    for (names, split), n in pairs.items():
        if n:
            counts["splits"][split] += n
            for label in names:
                counts["labels"][label] += n
                counts["label_split"][label][split] += n
    if project.task_type == TaskType.SPANS:
        for (label, split), n in label_pairs.items():
            counts["labels"][label] += n
            counts["label_split"][label][split] += n
    return counts, n_items


def _span_label_pairs(release: DatasetRelease) -> Counter:
    """(label name, split) -> the span items of the release with a span of that label."""
    pairs: Counter = Counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT x.name, x.split, count(*) FROM (SELECT DISTINCT i.id, i.split, s.v ->> 2 AS name "
                f"FROM {DatasetReleaseItem._meta.db_table} i "
                "CROSS JOIN LATERAL jsonb_array_elements(i.spans) AS s(v) WHERE i.release_id = %s) x "
                "GROUP BY 1, 2",
                [release.pk],
            )
            pairs.update({(name, split): n for name, split, n in cursor.fetchall()})
        return pairs
    items = DatasetReleaseItem.objects.filter(release=release).values_list("spans", "split")
    for spans, split in items.iterator(chunk_size=10_000):
        for name in {name for _, _, name in spans or ()}:
            pairs[name, split] += 1
    return pairs


CLEAN_TABLE = "release_clean"
_SPLIT_CODES = {split: index for index, split in enumerate(SPLITS)}


def _items_write_sql(
    release: DatasetRelease,
    project: Project,
    policy: ReleasePolicy,
    dawid_skene_fit: dict,
    write: RowsHandle = _discard,
) -> tuple[Counter, int]:
    """Stage 1 on PostgreSQL, without a row of it in Python: (1) the one query of the clean rows
    (selectors.release_clean_sql) fills a temporary table; (2) per label and stratum, the counts
    of examples keeping a train, dev or test split and of new ones come back, and SplitAssigner
    deals each group's new examples their splits in rank order here (a string of split codes
    per group, counts only); (3) one INSERT ... SELECT gives the n-th new example of a group the
    n-th code (row_number over the group by rank) and writes the items: one statement, so the
    immutability trigger checks the release once. The agreement is rounded as the Python path
    does (round(x, 4)), through a map of the few distinct values."""
    labels = dict(Label.objects.filter(project=project).values_list("id", "name"))
    previous = selectors.release_latest_ready(project=project)
    extra: list = []
    if policy.use_dawid_skene:
        votes = selectors.current_votes(project=project)
        decided = set(project.examples.filter(consensus__isnull=False).values_list("id", flat=True))
        extra = list(_dawid_skene_rows(labels, votes, decided, policy.min_posterior, fit=dawid_skene_fit))
        del votes
    pseudonyms = None
    if policy.include_raters:
        key = rater_key(project=project)
        pseudonyms = {
            rater_id: rater_pseudonym(key=key, user_id=rater_id)
            for rater_id in selectors.current_rater_ids(project=project)
        }
    sql, params = selectors.release_clean_sql(
        project=project,
        policy=policy,
        previous=previous,
        extra=extra,
        rationales=selectors.gold_rationales(project=project) if policy.include_rationale else None,
        pseudonyms=pseudonyms,
        multi_label=project.task_type == TaskType.MULTI,
        spans=project.task_type == TaskType.SPANS,
    )
    with connection.cursor() as cursor:
        cursor.execute(selectors.BUILD_SETTINGS_SQL)
        cursor.execute(f"DROP TABLE IF EXISTS {CLEAN_TABLE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {CLEAN_TABLE} ON COMMIT DROP AS {sql}", params)
        # Without statistics the planner guessed a few hundred new examples and joined them to
        # their groups by nested loop over a materialized copy of the table.
        cursor.execute(f"ANALYZE {CLEAN_TABLE}")
        _progress(release, 30, "Handing out splits")
        cursor.execute(
            "SELECT label_key, stratum, min(label), min(label_list::text), bool_or(spans IS NOT NULL), "
            + "".join(f"count(*) FILTER (WHERE previous_split = '{split}'), " for split in SPLITS)
            + f"count(*) FILTER (WHERE previous_split IS NULL) FROM {CLEAN_TABLE} GROUP BY 1, 2"
        )
        groups = cursor.fetchall()
        cursor.execute(f"SELECT DISTINCT agreement FROM {CLEAN_TABLE} WHERE agreement IS NOT NULL")
        agreements = [value for (value,) in cursor.fetchall()]
        pairs: Counter = Counter()
        sequences = []
        dealt: dict = {}
        start = 0  # the new examples of earlier groups: where a group's numbers start
        n_kept = 0
        for label_key, stratum, label, label_list, spans, *kept, n_new in groups:
            # A span group's items count per label later (_span_label_pairs).
            names = () if spans else (label,) if label_list is None else tuple(json.loads(label_list))
            for split, n in zip(SPLITS, kept, strict=True):
                pairs[names, split] += n
            n_kept += sum(kept)
            codes = _split_codes(dealt, tuple(kept), n_new, policy.ratios)
            for split, index in _SPLIT_CODES.items():
                pairs[names, split] += codes.count(index, 0, n_new)
            sequences.append((label_key, stratum, bytes(codes[:n_new]), start))
            start += n_new
        # The new examples are numbered in one sort by a single key, their group's index then
        # their rank (bytes: PostgreSQL compares most pairs by their first 8 bytes alone); the
        # n-th of them all, less the new examples of the groups before, is its place in its
        # group. (A sort by label key, stratum and rank compared text under the database's
        # collation and read each rank out of a wide row: 3 s for 700,000 items.) The groups'
        # codes join in after the numbering: a sort must not carry them along.
        insert = cursor.mogrify(
            f"INSERT INTO {DatasetReleaseItem._meta.db_table} (release_id, {', '.join(ITEM_COLUMNS)}) "
            "SELECT %s, t.example_id, t.external_id, t.label, t.source, t.split, am.rounded, t.n_raters, "
            "t.versions, t.rationale, t.raters, t.label_list, t.spans FROM ("
            "SELECT n.example_id, n.external_id, n.label, n.source, n.agreement, n.n_raters, n.versions, "
            "n.rationale, n.raters, n.label_list, n.spans, "
            "(ARRAY['train', 'dev', 'test'])[get_byte(s.codes, n.position - s.start - 1) + 1] AS split "
            "FROM (SELECT c.*, g.idx, row_number() OVER (ORDER BY int4send(g.idx::int) || c.rank)::int "
            f"AS position FROM {CLEAN_TABLE} c "
            "JOIN unnest(%s::text[], %s::text[]) WITH ORDINALITY AS g(label_key, stratum, idx) "
            "ON g.label_key = c.label_key AND g.stratum = c.stratum WHERE c.previous_split IS NULL) n "
            "JOIN unnest(%s::bytea[], %s::int[]) WITH ORDINALITY AS s(codes, start, idx) ON s.idx = n.idx "
            "UNION ALL SELECT c.example_id, c.external_id, c.label, c.source, c.agreement, c.n_raters, "
            "c.versions, c.rationale, c.raters, c.label_list, c.spans, c.previous_split "
            f"FROM {CLEAN_TABLE} c WHERE c.previous_split IS NOT NULL) t "
            "LEFT JOIN unnest(%s::float8[], %s::float8[]) AS am(raw, rounded) ON am.raw = t.agreement "
            # In the unique index's order, each item goes to the index's last page (byte order:
            # the index's own under a C or C.UTF-8 database, and a sort without the collation's
            # comparisons; under another collation only the insert's locality suffers).
            'ORDER BY t.external_id COLLATE "C"',
            [
                release.pk,
                [g[0] for g in sequences],
                [g[1] for g in sequences],
                [g[2] for g in sequences],
                [g[3] for g in sequences],
                agreements,
                [round(float(value), 4) for value in agreements],
            ],
        )
        _progress(release, 40, f"Writing the files of {n_kept + start} examples")
        n_items = _items_insert_streamed(cursor, insert.decode(), write)
        # The next release's selection joins these items (its previous splits): planned on the
        # statistics of the table before them (often none), it looked each one up by index.
        cursor.execute(f"ANALYZE {DatasetReleaseItem._meta.db_table}")
    return pairs, n_items


def _items_insert_streamed(cursor, insert: str, write: RowsHandle) -> int:
    """Run the items' INSERT ... SELECT (in external id order) and hand `write` the file row of
    each item as it goes in: one COPY of the insert's RETURNING rows, each joined to its example
    (one index lookup per row, in a nested loop that keeps the insert's order; CopyRows checks
    it), so Python writes the files on one core while PostgreSQL inserts on the other, and the
    items are never read back. Returns the number of items."""
    sink = selectors.CopyRows(write)
    cursor.cursor.copy_expert(
        f"COPY (WITH i AS ({insert} RETURNING *) SELECT {selectors.FILE_ROW_SQL} FROM i "
        f"CROSS JOIN LATERAL (SELECT x.text, x.metadata FROM {selectors.EXAMPLE_TABLE} x "
        f"WHERE x.id = i.example_id OFFSET 0) e) TO STDOUT {selectors.CopyRows.COPY_OPTIONS}",
        sink,
    )
    sink.flush()
    return sink.count


def _split_codes(
    dealt: dict[tuple[int, ...], tuple[bytearray, SplitAssigner]],
    kept: tuple[int, ...],
    n: int,
    ratios: tuple[float, float, float],
) -> bytearray:
    """The split codes (0 train, 1 dev, 2 test) SplitAssigner deals the first `n` new examples of
    a group keeping `kept` examples in train, dev and test. A deal depends only on the counts so
    far, so groups with the same kept counts share one deal, extended as far as the largest needs."""
    found = dealt.get(kept)
    if found is None:
        assigner = SplitAssigner(ratios)
        for split, count in zip(SPLITS, kept, strict=True):
            assigner.counts[""] = assigner.counts.get("", [0, 0, 0])
            assigner.counts[""][_SPLIT_CODES[split]] += count
        found = dealt[kept] = (bytearray(), assigner)
    codes, assigner = found
    assign = assigner.assign
    codes.extend(_SPLIT_CODES[assign("", None)] for _ in range(n - len(codes)))
    return codes


def _items_write_python(
    release: DatasetRelease, project: Project, policy: ReleasePolicy, dawid_skene_fit: dict
) -> tuple[Counter, int]:
    """Stage 1 in Python (SQLite): stream the candidates (release_candidates, plus Dawid-Skene's
    when the policy asks) through the policy and the split assigner into the release's items, a
    batch at a time; return the items per (label, split) and their number."""
    labels = dict(Label.objects.filter(project=project).values_list("id", "name"))
    rationales = selectors.gold_rationales(project=project) if policy.include_rationale else {}
    key = rater_key(project=project) if policy.include_raters else b""
    pseudonyms: dict[int, str] = {}
    previous = selectors.release_latest_ready(project=project)
    assigner = SplitAssigner(policy.ratios)
    pairs: Counter = Counter()  # (label, split) -> items
    batch: list[tuple] = []
    n_items = 0
    # Tag filters: only tagged examples are read (the set of a project's tags, not its examples).
    tag_sets = None
    if policy.include_tags or policy.exclude_tags:
        tag_sets = selectors.example_tag_sets(
            project=project, names=(*policy.include_tags, *policy.exclude_tags)
        )
    candidates: Iterator[Candidate] = iter(
        selectors.release_candidates(
            project=project,
            previous=previous,
            seed=policy.seed,
            stratify_field=policy.stratify_field,
            with_raters=policy.include_raters,
        )
    )
    if policy.use_dawid_skene:
        found = _dawid_skene_candidates(project, policy, labels, previous, dawid_skene_fit)
        candidates = heapq.merge(candidates, found, key=Candidate.order)
    position = {label_id: index for index, label_id in enumerate(labels)}  # the project's label order
    spans = project.task_type == TaskType.SPANS
    if spans:  # not stratified by answer (as _items_write_sql): by stratum, then rank
        candidates = iter(
            sorted(candidates, key=lambda c: (c.stratum, c.previous_split not in SPLITS, c.rank))
        )

    def names_of(answer: int | tuple) -> str | list:
        """A label's name, a multi-label answer's names in the project's label order, or a span
        answer's spans sorted [start, end, name]."""
        if spans:
            return sorted([start, end, labels[label_id]] for start, end, label_id in answer)
        if isinstance(answer, tuple):
            return [labels[label_id] for label_id in sorted(answer, key=position.__getitem__)]
        return labels[answer]

    for (
        example_id,
        external_id,
        label_id,
        source,
        agreement,
        n_raters,
        previous_split,
        stratum,
        ambiguous,
        n_votes,
        n_agree,
        versions,
        rater_ids,
        rater_labels,
        _,
    ) in candidates:
        if tag_sets is not None and not tag_filter_accepts(policy, tag_sets.get(example_id, NO_TAGS)):
            continue
        if source == "gold" and n_votes:
            agreement = n_agree / n_votes
        if not policy_accepts(policy, source, agreement, ambiguous):
            continue
        names = names_of(label_id)
        label_list = names if isinstance(names, list) and not spans else None
        span_list = names if spans else None
        label = spans_label_text(span_list) if spans else "|".join(names) if label_list is not None else names
        split = assigner.assign(("" if spans else label_id, stratum), previous_split)
        raters = None
        if policy.include_raters:
            raters = {}
            for rater_id, voted in zip(rater_ids, rater_labels, strict=True):
                if rater_id not in pseudonyms:
                    pseudonyms[rater_id] = rater_pseudonym(key=key, user_id=rater_id)
                voted = names_of(voted)
                raters[pseudonyms[rater_id]] = span_objects(voted) if spans else voted
        batch.append(
            (
                example_id,
                external_id,
                label,
                source,
                split,
                None if agreement is None else round(float(agreement), 4),
                n_raters,
                versions,
                _rationale(rationales, example_id, source, label_id) if rationales else None,
                raters,
                label_list,
                span_list,
            )
        )
        pairs[() if spans else tuple(label_list) if label_list is not None else (label,), split] += 1
        if len(batch) >= ITEM_BATCH:
            n_items += _items_insert(release, batch)
            batch = []
            _progress(release, 5 + min(50, n_items // 20_000), f"Selected {n_items} examples")
    n_items += _items_insert(release, batch)
    return pairs, n_items


def _dawid_skene_candidates(
    project: Project,
    policy: ReleasePolicy,
    labels: dict[int, str],
    previous: DatasetRelease | None,
    fit: dict,
) -> list[Candidate]:
    """Dawid-Skene's labels of the undecided examples, as candidates in Candidate.order. The model
    is fitted on every current annotation of the project, so these are read whole (four integers
    per annotation); only the policies that ask for Dawid-Skene pay for it."""
    votes = selectors.current_votes(project=project)
    # Every example with a consensus row (even excluded) is decided; Dawid-Skene fills in the rest.
    decided = set(project.examples.filter(consensus__isnull=False).values_list("id", flat=True))
    found = list(_dawid_skene_rows(labels, votes, decided, policy.min_posterior, fit=fit))
    strata = selectors.example_strata(
        project=project, example_ids=[row[0] for row in found], stratify_field=policy.stratify_field
    )
    kept = selectors.release_splits_of(release=previous, external_ids=[row[1] for row in found])
    rows = [
        Candidate(
            example_id,
            external_id,
            label_id,
            "dawid_skene",
            agreement,
            n_raters,
            kept.get(external_id),
            strata.get(example_id, ""),
            *votes[example_id].summary(label_id, policy.include_raters),
            split_rank(policy.seed, external_id),
        )
        for example_id, external_id, label_id, agreement, n_raters in found
    ]
    return sorted(rows, key=Candidate.order)


def _items_insert(release: DatasetRelease, rows: list[tuple]) -> int:
    """Insert a batch of items (tuples in ITEM_COLUMNS order)."""
    DatasetReleaseItem.objects.bulk_create(
        DatasetReleaseItem(release=release, **dict(zip(ITEM_COLUMNS, row, strict=True))) for row in rows
    )
    return len(rows)


# Stages 2 and 3: every format in one pass, then stored and hashed.


def _files_write(
    release: DatasetRelease, project: Project, policy: ReleasePolicy, rows: Callable[[RowsHandle], None]
) -> dict[str, Any]:
    """Write the JSONL and CSV files from one pass over the release's file rows (`rows` hands
    them, in batches, to the handle it is given) into temporary files, then store them under
    their names; the fields the release records about them."""
    names = {
        "jsonl": f"releases/{project.pk}/{release.pk}-{release.tag}.jsonl",
        "csv": f"releases/{project.pk}/{release.pk}-{release.tag}.csv",
    }
    options = {"include_rationale": policy.include_rationale, "include_raters": policy.include_raters}
    with _files_stored(names) as handles:
        sinks = {fmt: HashingSink(handle) for fmt, handle in handles.items()}
        writers = (
            JsonlWriter(sinks["jsonl"], **options),
            CsvWriter(
                sinks["csv"],
                copy_dialect=connection.vendor == "postgresql",
                spans=project.task_type == TaskType.SPANS,
                **options,
            ),
        )
        for writer in writers:
            writer.start()

        def write(rows: list[tuple]) -> None:
            for writer in writers:
                writer.write_rows(rows)

        rows(write)
        for writer in writers:
            writer.finish()
        _progress(release, 90, "Storing the files")
    return {
        "sha256": sinks["jsonl"].hexdigest(),
        "jsonl_file": names["jsonl"],
        "jsonl_bytes": sinks["jsonl"].size,
        "csv_file": names["csv"],
        "csv_bytes": sinks["csv"].size,
    }


@contextlib.contextmanager
def _files_stored(names: dict[str, str]) -> Iterator[dict[str, IO[bytes]]]:
    """Binary files to write, one per key of `names`, stored under their names in private storage
    (replacing a leftover) when the block ends without an error, and gone when it fails.

    A local FileSystemStorage has each written in place: a file beside its final name (named after
    it, so a dead build's leftovers removal finds it), renamed onto that name at the end, so the
    files (hundreds of MB) are not copied once more. Another storage gets temporary files, saved
    into it (_store)."""
    local = isinstance(default_storage, FileSystemStorage)
    with contextlib.ExitStack() as stack:
        handles: dict[str, IO[bytes]] = {}
        partials: dict[str, str] = {}
        for key, name in names.items():
            if local:
                path = default_storage.path(name)
                _directory_make(os.path.dirname(path))
                partial = partials[key] = f"{path}.{secrets.token_hex(4)}.part"
                # As FileSystemStorage.save opens a new file: the umask decides its mode.
                handles[key] = stack.enter_context(
                    os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")
                )
                stack.callback(_remove_if_there, partial)
            else:
                handles[key] = stack.enter_context(tempfile.TemporaryFile())
        yield handles
        for key, name in names.items():
            handle = handles[key]
            if local:
                handle.flush()
                if default_storage.file_permissions_mode is not None:
                    os.chmod(handle.fileno(), default_storage.file_permissions_mode)
                os.replace(partials[key], default_storage.path(name))
            else:
                _store(name, handle)


def _directory_make(path: str) -> None:
    """A storage folder, made as FileSystemStorage.save makes one (with its permissions mode)."""
    if os.path.isdir(path):
        return
    mode = default_storage.directory_permissions_mode
    if mode is None:
        os.makedirs(path, exist_ok=True)
        return
    old_umask = os.umask(0o777 & ~mode)
    try:
        os.makedirs(path, mode, exist_ok=True)
    finally:
        os.umask(old_umask)


def _remove_if_there(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _store(name: str, handle: IO[bytes]) -> None:
    """Save a written temporary file under `name` in private storage (replacing a leftover)."""
    handle.seek(0)
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, File(handle))
    if saved != name:  # pragma: no cover - storage renamed it: should not happen after the delete
        raise ApplicationError("Could not store the release file under its name.")


# The "release" jobs (core.jobs), registered by ConsistencyConfig.ready.
RELEASE_JOBS = JobKind(
    name="release",
    model=DatasetRelease,
    task=release_build_task,
    run=lambda release: _release_run(release),
    leftovers_remove=release_leftovers_remove,
    retry=lambda release, user: release_retry(release=release),
)
