"""The decision that runs when an example has its labels: the project's review rules
(labeling.decisions.decide) turn its current annotations into a consensus label, a request for
more raters, or a disagreement queued for an SME.

Labeling decides one example at a time under its row lock (`disagreement_detect`, below, called
by submit, undo and edit). Many examples are decided at once after an annotation import, inside
the import's transaction, and again when the review rules or the overlap change, in a background
job with progress. Examples an SME decided (consensus gold or excluded) are never touched. The
set-based path reaches
the same state (consensus label, open disagreement with its guideline versions, extra raters
asked) with a few set-based queries per chunk of examples, and writes only what changed. A test
checks that both paths agree.
"""

from __future__ import annotations

import io
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from psycopg2.extras import execute_values

from core.jobs.services import JobKind, job_enqueue, job_progress, job_requeue_failed, job_run, job_succeed
from core.models import Notice
from core.rawsql import execute, insert_sql
from labeling import decisions as review
from labeling.models import Annotation, ConsensusLabel, Disagreement, LabelingEvent, decision_withdrawn_event
from labeling.tasks import decisions_refresh_task
from projects.models import Example, ImportBatch, Membership, Project, Role, TaskType
from projects.services.imports import RETRY_RESETS, copy_text, import_batch_fail, unexpected_error

logger = logging.getLogger(__name__)

CHUNK = 5000
MAX_SLOTS = 25  # the assignment slot check constraint
SME_SOURCES = (ConsensusLabel.Source.GOLD, ConsensusLabel.Source.EXCLUDED)


@dataclass
class DecisionCounts:
    """What the rules made of the examples they looked at."""

    examples: int = 0  # examples the rules decided (SME-decided ones not included)
    unanimous: int = 0
    majority: int = 0
    queued: int = 0  # an open disagreement waits in the review queue
    pending: int = 0  # fewer votes than the example needs
    more_raters: int = 0  # a split asked for extra raters
    changed: int = 0  # examples whose consensus or open disagreement changed
    kept: int = 0  # decided by an SME: left alone

    def add(self, other: DecisionCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def examples_decide(*, project: Project, example_ids: Sequence[int]) -> DecisionCounts:
    """Apply the project's rules to these examples of the project and store the outcomes.

    The caller holds the examples' row locks in its transaction (the import raised their counts;
    the re-deciding job locks each chunk), so labeling cannot decide one of them meanwhile.
    """
    counts = DecisionCounts()
    for start in range(0, len(example_ids), CHUNK):
        counts.add(_decide_chunk(project, list(example_ids[start : start + CHUNK])))
    return counts


def _json(value):
    """A JSON column read by raw SQL: text on every database (Django parses JSON itself)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _stored_answer(label_id, labels, spans):
    """A stored answer (annotation or consensus row) as the rules compare it: a label id, a label
    set as a sorted tuple of ids, or spans as a sorted tuple of (start, end, label_id)."""
    if labels is not None:
        return tuple(sorted(_json(labels)))
    if spans is not None:
        return tuple(sorted(tuple(span) for span in _json(spans)))
    return label_id


def _decide(project: Project, votes, *, k: int, asked: int, ambiguous: bool) -> review.Outcome:
    """The rules for the project's task type: one label, a label set or a list of spans per vote."""
    rules = {"k": k, "threshold": project.majority_threshold, "accept_majority": project.accept_majority}
    if project.task_type == TaskType.MULTI:
        return review.decide_set(votes, ambiguous=ambiguous, **rules)
    if project.task_type == TaskType.SPANS:
        return review.decide_spans(votes, ambiguous=ambiguous, **rules)
    return review.decide(
        votes,
        extra_allowed=project.extra_raters_on_split,
        extra_asked=asked,
        ambiguous=ambiguous,
        **rules,
    )


def _answer_fields(project: Project, answer) -> dict:
    """An accepted answer as the consensus row's label_id, labels and spans (one of them set)."""
    if project.task_type == TaskType.MULTI:
        return {"label_id": None, "labels": list(answer), "spans": None}
    if project.task_type == TaskType.SPANS:
        return {"label_id": None, "labels": None, "spans": [list(span) for span in answer]}
    return {"label_id": answer, "labels": None, "spans": None}


def _answer_columns(project: Project, answer) -> tuple:
    """`_answer_fields` as the consensus row's raw columns (JSON as text)."""
    fields = _answer_fields(project, answer)
    return tuple(
        value if name == "label_id" or value is None else json.dumps(value) for name, value in fields.items()
    )


def _consensus_row(project: Project, example_id: int, source: str, outcome: review.Outcome, at) -> tuple:
    """An accepted outcome as a consensus row's raw values, in CONSENSUS_COLUMNS order; `at`, the
    decision time as the ORM writes it (connection.ops.adapt_datetimefield_value)."""
    return (
        example_id,
        *_answer_columns(project, outcome.label),
        str(source),
        outcome.share,
        outcome.n_votes,
        at,
    )


def _same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-9)


def _in(column: str, ids: list[int]) -> tuple[str, list]:
    """`column` is one of `ids`: one array parameter on PostgreSQL, placeholders elsewhere.

    On PostgreSQL a semi-join with the unnested array, not `= ANY(array)`: should the planner
    choose a sequential scan (its statistics may not have seen the rows this transaction wrote
    yet), ANY compares every row with the whole array, a hash of the array does not.
    """
    if connection.vendor == "postgresql":
        return f"{column} IN (SELECT unnest(%s::bigint[]))", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return copy_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def _insert(cursor, table: str, columns: tuple[str, ...], rows: list[tuple], returning: str = "") -> list:
    """Insert many rows: COPY on PostgreSQL (execute_values when ids must come back), else
    executemany."""
    if connection.vendor == "postgresql":
        if not returning:
            data = "".join("\t".join(map(_copy_value, row)) + "\n" for row in rows)
            cursor.cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(data))
            return []
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s RETURNING {returning}"
        return execute_values(cursor.cursor, sql, rows, page_size=5000, fetch=True)
    if returning:
        found = []
        for row in rows:  # SQLite: one statement per row, to get each id back
            cursor.execute(insert_sql(table, columns, returning), row)
            found.append(cursor.fetchone())
        return found
    cursor.executemany(insert_sql(table, columns), rows)
    return []


CONSENSUS = ConsensusLabel._meta.db_table
CONSENSUS_COLUMNS = (
    "example_id", "label_id", "labels", "spans", "source", "agreement", "n_raters", "decided_at",
)  # fmt: skip
DISAGREEMENTS = Disagreement._meta.db_table
VERSIONS = Disagreement.guideline_versions.through._meta.db_table


@dataclass
class _ChunkState:
    """What the rules need to know about a chunk of examples, and what is stored for them now."""

    extra: dict[int, int]  # example id -> extra raters already asked (only the project's examples)
    votes: dict[int, list]  # example id -> its current labels (label sets: sorted tuples), oldest first
    flagged: set[int] = field(default_factory=set)  # examples a rater flagged ambiguous
    versions_of: dict[int, set[int]] = field(default_factory=dict)  # guideline versions labeled under
    # (source, label or label set, agreement, n_raters)
    consensus: dict[int, tuple] = field(default_factory=dict)
    open_disagreements: dict[int, tuple] = field(default_factory=dict)  # (id, reason, a, b, share)
    open_versions: dict[int, set[int]] = field(default_factory=dict)  # disagreement id -> versions


def _decide_chunk(project: Project, ids: list[int]) -> DecisionCounts:
    return _apply(project, ids, _read_state(project, ids))


def new_examples_decide(*, project: Project, votes: Iterable[tuple[int, list]]) -> DecisionCounts:
    """Decide examples the caller created in its transaction a moment ago, given each one's
    labels in order (label ids; label sets as sorted tuples of ids; spans as lists of [start, end,
    label_id]). Such an
    example has no flag, guideline version, extra rater, consensus or disagreement yet, so nothing
    needs reading: the import of a million annotations decides its new examples without a query
    per chunk."""
    counts = DecisionCounts()
    votes = iter(votes)
    while chunk := list(islice(votes, CHUNK)):
        ids = [example_id for example_id, _ in chunk]
        counts.add(_apply(project, ids, _ChunkState(extra=dict.fromkeys(ids, 0), votes=dict(chunk))))
    return counts


def _read_state(project: Project, ids: list[int]) -> _ChunkState:
    """Three reads for a chunk of examples: each example with its extra raters, consensus and open
    disagreement (one join: an example has at most one of each), their current annotations, and
    the open disagreements' guideline versions. Plain SQL rather than the ORM: at a million
    annotations, building model instances and `IN` lists of thousands of parameters cost more
    than the database work itself."""
    votes: dict[int, list[int]] = defaultdict(list)
    flagged: set[int] = set()
    versions_of: dict[int, set[int]] = defaultdict(set)
    open_versions: dict[int, set[int]] = defaultdict(set)
    extra: dict[int, int] = {}
    consensus: dict[int, tuple] = {}
    open_disagreements: dict[int, tuple] = {}
    with connection.cursor() as cursor:
        where, params = _in("e.id", ids)
        cursor.execute(
            "SELECT e.id, e.extra_raters, c.source, c.label_id, c.labels, c.spans, c.agreement, c.n_raters, "
            "d.id, d.reason, d.label_a_id, d.label_b_id, d.majority_share "
            f"FROM {Example._meta.db_table} AS e "
            f"LEFT JOIN {CONSENSUS} AS c ON c.example_id = e.id "
            f"LEFT JOIN {DISAGREEMENTS} AS d ON d.example_id = e.id AND d.status = %s "
            f"WHERE e.project_id = %s AND {where}",
            [Disagreement.Status.OPEN, project.pk, *params],
        )
        for example_id, asked, source, label_id, labels, spans, *rest in cursor.fetchall():
            extra[example_id] = asked
            if source is not None:
                consensus[example_id] = (source, _stored_answer(label_id, labels, spans), *rest[:2])
            if rest[2] is not None:
                open_disagreements[example_id] = tuple(rest[2:])
        where, params = _in("example_id", ids)
        cursor.execute(
            f"SELECT example_id, label_id, labels, spans, ambiguous, guideline_version_id "
            f"FROM {Annotation._meta.db_table} "
            f"WHERE {where} AND superseded_at IS NULL ORDER BY example_id, created_at, id",
            params,
        )
        for example_id, label_id, labels, spans, ambiguous, version_id in cursor.fetchall():
            votes[example_id].append(_stored_answer(label_id, labels, spans))
            if ambiguous:
                flagged.add(example_id)
            if version_id is not None:
                versions_of[example_id].add(version_id)
        if open_disagreements:
            where, params = _in("disagreement_id", [row[0] for row in open_disagreements.values()])
            cursor.execute(
                f"SELECT disagreement_id, guidelineversion_id FROM {VERSIONS} WHERE {where}", params
            )
            for disagreement_id, version_id in cursor.fetchall():
                open_versions[disagreement_id].add(version_id)
    return _ChunkState(extra, votes, flagged, versions_of, consensus, open_disagreements, open_versions)


def _apply(project: Project, ids: list[int], state: _ChunkState) -> DecisionCounts:
    """Run the rules on each example of the chunk and write only what changes."""
    counts = DecisionCounts()
    extra, votes, flagged, versions_of = state.extra, state.votes, state.flagged, state.versions_of
    consensus, open_disagreements, open_versions = (
        state.consensus,
        state.open_disagreements,
        state.open_versions,
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    consensus_drop: list[int] = []
    consensus_withdrawn: list[int] = []  # automatic decisions the history keeps (see LabelingEvent)
    consensus_new: list[tuple] = []
    disagreements_drop: list[int] = []
    disagreements_new: list[tuple[tuple, set[int]]] = []
    disagreements_changed: list[Disagreement] = []
    versions_changed: dict[int, set[int]] = {}
    more_raters: dict[int, list[int]] = defaultdict(list)
    for example_id in ids:
        current = consensus.get(example_id)
        if current is not None and current[0] in SME_SOURCES:
            counts.kept += 1
            continue
        if example_id not in extra:
            continue  # not an example of this project
        asked = extra[example_id]
        outcome = _decide(
            project,
            votes.get(example_id, ()),
            k=min(project.overlap + asked, MAX_SLOTS),
            asked=asked,
            ambiguous=example_id in flagged,
        )
        counts.examples += 1
        changed = False
        open_row = open_disagreements.get(example_id)
        if outcome.kind in (review.ACCEPT_UNANIMOUS, review.ACCEPT_MAJORITY):
            unanimous = outcome.kind == review.ACCEPT_UNANIMOUS
            counts.unanimous += unanimous
            counts.majority += not unanimous
            source = ConsensusLabel.Source.UNANIMOUS if unanimous else ConsensusLabel.Source.MAJORITY
            if current is None or not (
                current[0] == source
                and current[1] == outcome.label
                and _same(current[2], outcome.share)
                and current[3] == outcome.n_votes
            ):
                if current is not None:
                    consensus_drop.append(example_id)
                    if (current[0], current[1]) != (source, outcome.label):
                        consensus_withdrawn.append(example_id)
                consensus_new.append(_consensus_row(project, example_id, source, outcome, now))
                changed = True
            if open_row is not None:
                disagreements_drop.append(open_row[0])
                changed = True
            counts.changed += changed
            continue
        # Every other outcome means the example has no consensus (yet).
        if current is not None:
            consensus_drop.append(example_id)
            consensus_withdrawn.append(example_id)
            changed = True
        if outcome.kind in (review.PENDING, review.ASK_MORE):
            if outcome.kind == review.PENDING:
                counts.pending += 1
            else:
                counts.more_raters += 1
                more_raters[asked + outcome.n_more].append(example_id)
                changed = True
            if open_row is not None:
                disagreements_drop.append(open_row[0])
                changed = True
            counts.changed += changed
            continue
        counts.queued += 1
        fields = (outcome.reason, outcome.label_a, outcome.label_b, outcome.share)
        versions = versions_of.get(example_id, set())
        if open_row is None:
            disagreements_new.append(
                ((project.pk, example_id, str(Disagreement.Status.OPEN), *fields, now), versions)
            )
            changed = True
        else:
            pk, reason, label_a, label_b, share = open_row
            if (reason, label_a, label_b) != fields[:3] or not _same(share, fields[3]):
                disagreements_changed.append(
                    Disagreement(
                        pk=pk,
                        reason=outcome.reason,
                        label_a_id=outcome.label_a,
                        label_b_id=outcome.label_b,
                        majority_share=outcome.share,
                    )
                )
                changed = True
            if versions != open_versions.get(pk, set()):
                versions_changed[pk] = versions
                changed = True
        counts.changed += changed

    if consensus_withdrawn:
        decisions_withdrawn_record(
            project=project, example_ids=consensus_withdrawn, why="the review rules or labels changed"
        )
    with connection.cursor() as cursor:
        if consensus_drop:
            where, params = _in("example_id", consensus_drop)
            cursor.execute(f"DELETE FROM {CONSENSUS} WHERE {where}", params)
        if consensus_new:
            _insert(cursor, CONSENSUS, CONSENSUS_COLUMNS, consensus_new)
        if disagreements_drop:
            # Open disagreements have no resolution (resolving closes them): only their versions go.
            where, params = _in("disagreement_id", disagreements_drop)
            cursor.execute(f"DELETE FROM {VERSIONS} WHERE {where}", params)
            where, params = _in("id", disagreements_drop)
            cursor.execute(f"DELETE FROM {DISAGREEMENTS} WHERE {where}", params)
        if disagreements_new:
            columns = (
                "project_id", "example_id", "status", "reason", "label_a_id", "label_b_id", "majority_share",
                "created_at",
            )  # fmt: skip
            created = _insert(
                cursor,
                DISAGREEMENTS,
                columns,
                [row for row, _ in disagreements_new],
                returning="id, example_id",
            )
            wanted = {row[1]: versions for row, versions in disagreements_new}
            if created:
                cases_queued_notify(project=project)
            for pk, example_id in created:
                if wanted[example_id]:
                    versions_changed[pk] = wanted[example_id]
        if versions_changed:
            where, params = _in("disagreement_id", list(versions_changed))
            cursor.execute(f"DELETE FROM {VERSIONS} WHERE {where}", params)
            rows = [(pk, version_id) for pk, versions in versions_changed.items() for version_id in versions]
            _insert(cursor, VERSIONS, ("disagreement_id", "guidelineversion_id"), rows)
    if disagreements_changed:
        Disagreement.objects.bulk_update(
            disagreements_changed, ["reason", "label_a", "label_b", "majority_share"]
        )
    for value, example_ids in more_raters.items():
        Example.objects.filter(pk__in=example_ids).update(extra_raters=value)
    return counts


# --------------------------------------------------------------------------------------------------
# Re-deciding after the rules change: a background job, its state kept in an ImportBatch


def decisions_refresh_start(
    *, project: Project, user: AbstractBaseUser | None = None, changed: dict | None = None
) -> ImportBatch | None:
    """Queue a job that re-decides the project's examples under its current rules (called from
    projects' project_update when the overlap or a review rule changed, inside its transaction).

    Nothing is queued when no example has annotations, or when a job is already queued: it has
    not started, so it will read the new rules too. Returns the queued job, if any.
    """
    if not project.examples.filter(annotation_count__gt=0).exists():
        return None
    waiting = project.import_batches.filter(
        kind=ImportBatch.Kind.DECISIONS, status=ImportBatch.Status.QUEUED
    ).first()
    if waiting is not None:
        return waiting
    what = ", ".join(
        f"{name.replace('_', ' ')} {old} → {new}" for name, (old, new) in (changed or {}).items()
    )
    batch = ImportBatch.objects.create(
        project=project,
        kind=ImportBatch.Kind.DECISIONS,
        created_by=user if user is not None and user.is_authenticated else None,
        source_name=f"Review rules changed: {what}"[:255] if what else "Review rules changed",
        file_format="",
    )
    job_enqueue(job=batch)
    return batch


def decisions_refresh_run(*, batch_id: int) -> ImportBatch:
    """Run a re-deciding job (the task's whole job) and return it; a finished job, or one a live
    worker runs, is left as it is."""
    job_run(kind="decisions", job_id=batch_id)
    return ImportBatch.objects.get(pk=batch_id)


def _decisions_refresh(batch: ImportBatch) -> None:
    """The "decisions" job's run: re-decide every example with annotations that no SME decided, a
    chunk per transaction (the chunk's rows locked in id order), with progress committed between
    chunks. The rules are read again for each chunk, so a job that runs while they change again
    ends on the newest. A job whose worker died starts again from the first chunk: deciding only
    writes what changed, so the chunks done before are quick."""
    try:
        project_id = batch.project_id
        candidates = Example.objects.filter(project_id=project_id, annotation_count__gt=0)
        total = candidates.count()
        job_progress(job=batch, percent=0, text="0% decided", fields={"bytes_total": total, "bytes_read": 0})
        counts = DecisionCounts()
        done = 0
        last = 0
        while True:
            with transaction.atomic():
                ids = list(
                    candidates.filter(pk__gt=last)
                    .select_for_update()
                    .order_by("pk")
                    .values_list("pk", flat=True)[:CHUNK]
                )
                if not ids:
                    break
                project = Project.objects.get(pk=project_id)
                counts.add(_decide_chunk(project, ids))
            last = ids[-1]
            done += len(ids)
            percent = min(99, int(100 * done / total)) if total else 99
            if not job_progress(
                job=batch,
                percent=percent,
                text=f"{percent}% decided",
                fields={"bytes_read": min(done, total), "rows_read": done, "updated_at": timezone.now()},
            ):
                return  # another worker took the job over (this one looked dead): it decides the rest
        job_succeed(
            job=batch,
            fields={
                "bytes_total": max(total, done),
                "bytes_read": max(total, done),
                "rows_read": done,
                "summary": {"decisions": counts.as_dict()},
                "updated_at": timezone.now(),
            },
        )
    except Exception as exc:
        logger.exception("re-deciding job %s stopped by an unexpected error", batch.pk)
        done_so_far = ImportBatch.objects.values_list("rows_read", flat=True).get(pk=batch.pk)
        outcome = f"{done_so_far} examples were re-decided before it stopped; SME decisions are untouched"
        import_batch_fail(batch, [unexpected_error(exc, outcome=outcome)], 1, retryable=True)  # safe again


# The "decisions" jobs (core.jobs), registered by LabelingConfig.ready.
DECISION_JOBS = JobKind(
    name="decisions",
    model=ImportBatch,
    task=decisions_refresh_task,
    run=lambda batch: _decisions_refresh(batch),
    rows=Q(kind=ImportBatch.Kind.DECISIONS),
    retry=lambda batch, user: job_requeue_failed(job=batch, fields=RETRY_RESETS),
)


# --------------------------------------------------------------------------------------------------
# One example at a time, under its row lock (labeling's submit, undo and edit)


def effective_k(*, project: Project, example: Example) -> int:
    return min(project.overlap + example.extra_raters, MAX_SLOTS)


def decisions_withdrawn_record(*, project: Project, example_ids: list[int], why: str) -> None:
    """History rows (LabelingEvent "undecided") for the automatic decisions of `example_ids` that
    the caller is about to drop or replace: a re-decision after a rule change or new labels, or a
    relabel request. SME verdicts need none: their Resolution rows stay."""
    now = timezone.now()
    rows = ConsensusLabel.objects.filter(
        example_id__in=example_ids,
        source__in=[ConsensusLabel.Source.UNANIMOUS, ConsensusLabel.Source.MAJORITY],
    ).select_related("label")
    LabelingEvent.objects.bulk_create(
        decision_withdrawn_event(consensus, project_id=project.pk, at=now, why=why)
        for consensus in rows.iterator(chunk_size=CHUNK)
    )


def _keep_withdrawn_decision(consensus: ConsensusLabel, example: Example, now, why: str) -> None:
    decision_withdrawn_event(consensus, project_id=example.project_id, at=now, why=why).save()


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        return cursor.fetchall()


def _example_state(example: Example) -> tuple[tuple | None, int | None, list[tuple]]:
    """The one read of the decision, under the example's lock: its consensus (id, source, answer
    columns) or None, the id of its open disagreement or None, and its current annotations as
    (answer, ambiguous, guideline version id), oldest first. One statement, plain SQL."""
    rows = _fetch(
        "SELECT 'a', id, NULL, label_id, labels, spans, ambiguous, guideline_version_id, created_at "
        f"FROM {Annotation._meta.db_table} WHERE example_id = %s AND superseded_at IS NULL "
        "UNION ALL SELECT 'c', id, source, label_id, labels, spans, NULL, NULL, NULL "
        f"FROM {CONSENSUS} WHERE example_id = %s "
        f"UNION ALL SELECT 'd', id, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM {DISAGREEMENTS} "
        "WHERE example_id = %s AND status = %s ORDER BY 1, 9, 2",
        [example.pk, example.pk, example.pk, Disagreement.Status.OPEN],
    )
    consensus, open_id, votes = None, None, []
    for kind, pk, source, label_id, labels, spans, ambiguous, version, _ in rows:
        if kind == "a":
            votes.append((_stored_answer(label_id, labels, spans), bool(ambiguous), version))
        elif kind == "c":
            consensus = (pk, source, label_id, _json(labels), _json(spans))
        else:
            open_id = pk
    return consensus, open_id, votes


def _consensus_withdraw(consensus_id: int, example: Example, now) -> None:
    """Keep the automatic decision about to be replaced or dropped in the history."""
    consensus = ConsensusLabel.objects.select_related("label").get(pk=consensus_id)
    _keep_withdrawn_decision(consensus, example, now, "the labels changed")


def disagreement_detect(*, project: Project, example: Example) -> review.Outcome | None:
    """Apply the project's rules to the example's current annotations and store the outcome.

    Must run inside the caller's transaction with the example row locked (labeling's submit,
    undo and update do). An example an SME has decided (gold or excluded) is left alone.
    Returns the outcome, or None when the example was already decided by an SME. One read
    (_example_state); writes only for what changes.
    """
    consensus, open_id, rows = _example_state(example)
    if consensus is not None and consensus[1] in SME_SOURCES:
        return None
    outcome = _decide(
        project,
        [answer for answer, _, _ in rows],
        k=effective_k(project=project, example=example),
        asked=example.extra_raters,
        ambiguous=any(flag for _, flag, _ in rows),
    )
    now = timezone.now()
    if outcome.kind in (review.ACCEPT_UNANIMOUS, review.ACCEPT_MAJORITY):
        source = (
            ConsensusLabel.Source.UNANIMOUS
            if outcome.kind == review.ACCEPT_UNANIMOUS
            else ConsensusLabel.Source.MAJORITY
        )
        if consensus is None:
            with connection.cursor() as cursor:
                execute(
                    cursor,
                    insert_sql(CONSENSUS, CONSENSUS_COLUMNS),
                    _consensus_row(
                        project, example.pk, source, outcome, connection.ops.adapt_datetimefield_value(now)
                    ),
                )
        else:
            answer = _answer_fields(project, outcome.label)
            if (*consensus[2:], consensus[1]) != (*answer.values(), source):
                _consensus_withdraw(consensus[0], example, now)
            decision = {**answer, "source": source, "agreement": outcome.share, "n_raters": outcome.n_votes}
            ConsensusLabel.objects.filter(pk=consensus[0]).update(decided_at=now, **decision)
        if open_id is not None:
            Disagreement.objects.filter(pk=open_id).delete()
        return outcome
    # Every other outcome means the example has no consensus (yet).
    if consensus is not None:
        _consensus_withdraw(consensus[0], example, now)
        ConsensusLabel.objects.filter(pk=consensus[0]).delete()
    if outcome.kind in (review.PENDING, review.ASK_MORE):
        # E.g. an undo took the example below k: whatever was queued no longer stands.
        if open_id is not None:
            Disagreement.objects.filter(pk=open_id).delete()
        if outcome.kind == review.ASK_MORE:
            example.extra_raters += outcome.n_more
            Example.objects.filter(pk=example.pk).update(extra_raters=example.extra_raters)
        return outcome
    fields = {
        "reason": outcome.reason,
        "label_a_id": outcome.label_a,
        "label_b_id": outcome.label_b,
        "majority_share": outcome.share,
    }
    versions = {v for _, _, v in rows if v is not None}
    if open_id is None:
        _case_open(project, example, fields, versions, now)
    else:
        Disagreement.objects.filter(pk=open_id).update(**fields)
        Disagreement(pk=open_id).guideline_versions.set(versions)
    return outcome


def _case_open(project: Project, example: Example, fields: dict, versions: set[int], now: datetime) -> None:
    """Queue the example: its open case with the guideline versions of its votes, and the SMEs'
    notice (cases_queued_notify). One statement on PostgreSQL, where the ORM's insert and the
    versions' add (a read and an insert) cost the submit three round trips and the ORM's work."""
    if connection.vendor != "postgresql":
        disagreement = Disagreement.objects.create(project=project, example=example, **fields)
        cases_queued_notify(project=project)
        disagreement.guideline_versions.add(*versions)
        return
    notice_sql, notice_params = _queued_notice(project)
    with connection.cursor() as cursor:
        execute(
            cursor,
            f"WITH d AS (INSERT INTO {DISAGREEMENTS} (project_id, example_id, status, reason, label_a_id, "
            "label_b_id, majority_share, reason_detail, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, '', %s) RETURNING id), "
            f"v AS (INSERT INTO {VERSIONS} (disagreement_id, guidelineversion_id) "
            "SELECT d.id, x FROM d CROSS JOIN unnest(%s::bigint[]) AS x) " + notice_sql,
            [
                project.pk,
                example.pk,
                Disagreement.Status.OPEN,
                fields["reason"],
                fields["label_a_id"],
                fields["label_b_id"],
                fields["majority_share"],
                now,
                sorted(versions),
                *notice_params,
            ],
        )


QUEUED_NOTICE = "queued"  # the kind of the notice an SME gets when cases wait


def cases_queued_notify(*, project: Project) -> None:
    """Tell the project's SMEs that new cases wait for review: one unread notice each, not one per
    case (none to an SME who still has one unread, nor to an inactive account), in one statement:
    it runs on a labeler's submit, where finding the SMEs and their unread notices through the ORM
    cost a fifth of the request's CPU."""
    sql, params = _queued_notice(project)
    with connection.cursor() as cursor:
        execute(cursor, sql, params)


def _queued_notice(project: Project) -> tuple[str, list]:
    """The statement of cases_queued_notify and its parameters."""
    text = f"New cases wait in the review queue of {project.name}."[:300]
    url = reverse("consistency:review_queue", args=[project.slug])[:300]
    sql = (
        f"INSERT INTO {Notice._meta.db_table} (user_id, project_id, kind, text, url, created_at) "
        f"SELECT m.user_id, %s, %s, %s, %s, %s FROM {Membership._meta.db_table} m "
        f"JOIN {get_user_model()._meta.db_table} u ON u.id = m.user_id "
        "WHERE m.project_id = %s AND m.role = %s AND u.is_active AND NOT EXISTS "
        f"(SELECT 1 FROM {Notice._meta.db_table} n WHERE n.user_id = m.user_id "
        "AND n.project_id = %s AND n.kind = %s AND n.read_at IS NULL)"
    )
    params = [
        project.pk,
        QUEUED_NOTICE,
        text,
        url,
        # As the ORM writes it (on SQLite a naive UTC text, not an offset one).
        connection.ops.adapt_datetimefield_value(timezone.now()),
        project.pk,
        Role.SME,
        project.pk,
        QUEUED_NOTICE,
    ]
    return sql, params


def disagreements_detect_all(*, project: Project) -> int:
    """Run the rules on every example of the project that has annotations (the demo load), a
    chunk of examples per transaction under their row locks. Returns how many are queued."""
    ids = list(project.examples.filter(annotation_count__gt=0).order_by("pk").values_list("pk", flat=True))
    queued = 0
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            locked = list(
                project.examples.select_for_update()
                .filter(pk__in=ids[start : start + CHUNK])
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            queued += examples_decide(project=project, example_ids=locked).queued
    return queued
