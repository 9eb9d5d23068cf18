"""Reads for dataset releases: lists and lookups scoped to a project, the clean rows of a release
(one SQL query on PostgreSQL; each example's decision as a candidate in Python elsewhere), the rows
of a release's files (streamed in external id order), and the diff of two releases."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import QuerySet

from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.releases.policy import (
    SPLITS,
    ReleasePolicy,
    agreement_text,
    jsonb_text,
    span_objects,
    split_rank,
)
from consistency.review.models import Resolution
from consistency.review.selectors import resolutions_current
from core.errors import ApplicationError, Conflict, NotFound
from labeling.models import Annotation, ConsensusLabel
from projects.models import Example, ExampleTag, GuidelineVersion, Label, Project

DIFF_LIST_LIMIT = 500
ROW_BATCH = 5_000
# The settings of a build's big statements (the clean rows' query, reading a release's rows back):
# one process, as parallel workers each built a hash join's inner side again (all votes summed up
# per worker), for no gain on a shared database server; room to sum up a million examples' votes
# and to sort their rows in memory (no spill to disk); no JIT, whose compiling took a second, more
# than it saved.
BUILD_SETTINGS_SQL = (
    "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL work_mem = '256MB'; SET LOCAL jit = off"
)


def release_list(*, project: Project) -> QuerySet[DatasetRelease]:
    return (
        DatasetRelease.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def release_get(*, project: Project, tag: str) -> DatasetRelease:
    release = DatasetRelease.objects.filter(project=project, tag=tag).first()
    if release is None:
        raise NotFound("Release not found.")
    return release


def release_latest_ready(*, project: Project) -> DatasetRelease | None:
    return (
        DatasetRelease.objects.filter(project=project, status=DatasetRelease.Status.READY)
        .order_by("-created_at", "-id")
        .first()
    )


@dataclass
class ExampleDecision:
    """What the database says about one example now, before a policy is applied."""

    example_id: int
    external_id: str
    label_id: int | None
    source: str
    agreement: float | None
    n_raters: int
    ambiguous: bool = False
    versions: set[int] = field(default_factory=set)
    votes: dict[int, int] = field(default_factory=dict)  # rater id -> label id

    def summary(self, label_id: int, with_raters: bool) -> tuple:
        """Candidate's votes fields (ambiguous ... rater_labels) for the decided `label_id`."""
        raters = sorted(self.votes.items()) if with_raters else []
        return (
            self.ambiguous,
            len(self.votes),
            sum(1 for voted in self.votes.values() if voted == label_id),
            sorted(self.versions),
            [rater for rater, _ in raters],
            [voted for _, voted in raters],
        )


def current_votes(*, project: Project) -> dict[int, ExampleDecision]:
    """Current (not superseded) annotations grouped per example: votes, ambiguous flags, versions.

    One query over four integer columns and a flag; decisions carry no consensus yet. A vote is a
    label id, or in a multi-label project the sorted tuple of label ids, or in a span project the
    sorted tuple of (start, end, label id).
    """
    rows = (
        Annotation.objects.filter(example__project=project, superseded_at__isnull=True)
        .order_by()
        .values_list(
            "example_id",
            "example__external_id",
            "rater_id",
            "label_id",
            "labels",
            "spans",
            "ambiguous",
            "guideline_version__number",
        )
    )
    out: dict[int, ExampleDecision] = {}
    for example_id, external_id, rater_id, label_id, labels, spans, ambiguous, version in rows.iterator(
        chunk_size=5000
    ):
        if label_id is None:
            label_id = _answer(labels, spans)
        decision = out.get(example_id)
        if decision is None:
            decision = out[example_id] = ExampleDecision(example_id, external_id, None, "", None, 0)
        decision.votes[rater_id] = label_id
        decision.ambiguous = decision.ambiguous or ambiguous
        if version is not None:
            decision.versions.add(version)
    return out


def current_rater_ids(*, project: Project) -> list[int]:
    """Ids of the raters with a current annotation in the project."""
    return sorted(
        Annotation.objects.filter(example__project=project, superseded_at__isnull=True)
        .order_by()
        .values_list("rater_id", flat=True)
        .distinct()
    )


def consensus_rows(*, project: Project):
    """(example id, external id, label id, source, agreement, n_raters) for every decided example."""
    return (
        ConsensusLabel.objects.filter(example__project=project)
        .exclude(source=ConsensusLabel.Source.EXCLUDED)
        .order_by()
        .values_list("example_id", "example__external_id", "label_id", "source", "agreement", "n_raters")
        .iterator(chunk_size=5000)
    )


def gold_rationales(*, project: Project) -> dict[int, tuple[int | tuple, str]]:
    """{example id: (gold answer, rationale)} of each example's current gold resolution: the
    answer a label id, or a multi-label or span answer as Candidate.label_id holds it."""
    out: dict[int, tuple[int | tuple, str]] = {}
    rows = (
        resolutions_current(project=project)
        .order_by("created_at", "id")
        .values_list("example_id", "verdict", "label_id", "labels", "spans", "rationale")
    )
    for example_id, verdict, label_id, labels, spans, rationale in rows:
        if verdict == Resolution.Verdict.GOLD:
            out[example_id] = (label_id if label_id is not None else _answer(labels, spans), rationale)
        else:
            out.pop(example_id, None)
    return out


def release_diff(*, old: DatasetRelease, new: DatasetRelease, limit: int = DIFF_LIST_LIMIT) -> dict:
    """What changed from `old` to `new` (same project): added, removed and relabeled examples, and
    kept examples whose split changed (none, if splits are stable). Lists are cut at `limit`;
    the counts are complete."""
    if old.project_id != new.project_id:
        raise NotFound("Release not found.")
    before = {
        eid: (label, split)
        for eid, label, split in DatasetReleaseItem.objects.filter(release=old).values_list(
            "external_id", "label", "split"
        )
    }
    added: list[dict] = []
    relabeled: list[dict] = []
    split_changed: list[dict] = []
    counts: dict[str, int] = defaultdict(int)
    seen = set()
    rows = (
        DatasetReleaseItem.objects.filter(release=new)
        .order_by("external_id")
        .values_list("external_id", "label", "split")
        .iterator(chunk_size=5000)
    )
    for eid, label, split in rows:
        previous = before.get(eid)
        if previous is None:
            counts["added"] += 1
            if len(added) < limit:
                added.append({"external_id": eid, "label": label, "split": split})
            continue
        seen.add(eid)
        if previous[0] != label:
            counts["relabeled"] += 1
            if len(relabeled) < limit:
                relabeled.append({"external_id": eid, "old_label": previous[0], "new_label": label})
        if previous[1] != split:
            counts["split_changed"] += 1
            if len(split_changed) < limit:
                split_changed.append({"external_id": eid, "old_split": previous[1], "new_split": split})
    removed_ids = sorted(eid for eid in before if eid not in seen)
    removed = [{"external_id": eid, "label": before[eid][0]} for eid in removed_ids[:limit]]
    return {
        "old": old.tag,
        "new": new.tag,
        "counts": {
            "added": counts["added"],
            "removed": len(removed_ids),
            "relabeled": counts["relabeled"],
            "split_changed": counts["split_changed"],
            "kept": len(seen),
        },
        "added": added,
        "removed": removed,
        "relabeled": relabeled,
        "split_changed": split_changed,
    }


def release_file_get(*, release: DatasetRelease, file_format: str) -> tuple[str, int]:
    """(storage path, size) of a ready release's file in `file_format`: "jsonl", "csv", or "json"
    (read from the JSONL file, rewritten as an array while it streams)."""
    if release.status != DatasetRelease.Status.READY:
        raise Conflict("The release is not ready yet.")
    if file_format in ("jsonl", "json"):
        name, size = release.jsonl_file, release.jsonl_bytes
    elif file_format == "csv":
        name, size = release.csv_file, release.csv_bytes
    else:
        raise NotFound("Unknown format: use jsonl, csv or json.")
    if not name or not default_storage.exists(name):
        raise NotFound("The release file is missing from storage.")
    return name, size


# -------------------------------------------------------------------------------------------------
# The two streams a build reads: candidates (for the items) and rows (for the files)

ITEM_TABLE = DatasetReleaseItem._meta.db_table
EXAMPLE_TABLE = Example._meta.db_table
CONSENSUS_TABLE = ConsensusLabel._meta.db_table
ANNOTATION_TABLE = Annotation._meta.db_table
GUIDELINE_VERSION_TABLE = GuidelineVersion._meta.db_table
LABEL_TABLE = Label._meta.db_table


def _stratum_sql(field_name: str) -> tuple[str, list]:
    """SQL giving an example's stratum on PostgreSQL: the jsonb text of metadata[field], "" if the
    key is missing or null (as policy.jsonb_text of the Python value)."""
    if not field_name:
        return "''", []
    value = "(e.metadata -> %s)"
    return f"CASE WHEN coalesce(jsonb_typeof({value}), 'null') = 'null' THEN '' ELSE {value}::text END", [
        field_name,
        field_name,
    ]


def _stratum_python(metadata, field_name: str) -> str:
    if not field_name:
        return ""
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    value = metadata.get(field_name) if isinstance(metadata, dict) else None
    return "" if value is None else jsonb_text(value)


class Candidate(NamedTuple):
    """One decided example, with what the policy and the split need (its votes' summary, its
    previous split, its stratum) and what its item records (versions, raters)."""

    example_id: int
    external_id: str
    label_id: int | tuple[int, ...]  # a multi-label project's sorted tuple of label ids
    source: str
    agreement: float | None
    n_raters: int
    previous_split: str | None
    stratum: str
    ambiguous: bool  # a current annotation flags it ambiguous
    n_votes: int  # current annotations
    n_agree: int  # ... of them with the decided label
    versions: list[int]  # guideline versions of the current annotations, ascending
    rater_ids: list[int]  # raters of the current annotations (empty unless asked for)
    rater_labels: list[int]  # ... and their labels, in the same order
    rank: bytes | None

    def order(self) -> tuple:
        """Grouped by label and stratum; those keeping a previous split first, then by rank."""
        return (self.label_id, self.stratum, self.previous_split not in SPLITS, self.rank)


def release_candidates(
    *,
    project: Project,
    previous: DatasetRelease | None,
    seed: str,
    stratify_field: str,
    with_raters: bool,
) -> list[Candidate]:
    """Every example with a consensus label (excluded ones aside), with the summary of its current
    annotations, in Candidate.order, summed up and sorted in Python from two reads. The build's
    portable path (SQLite; small projects): PostgreSQL selects and splits in SQL instead
    (release_clean_sql), and tests check that both give the same items."""
    return _release_candidates_python(project, previous, seed, stratify_field, with_raters)


# Bits of a guideline-version mask: version numbers 0..62 fit in a bigint (sign bit unused).
VERSION_MASK_MAX = 62


def release_clean_sql(
    *,
    project: Project,
    policy: ReleasePolicy,
    previous: DatasetRelease | None,
    extra: Sequence[tuple[int, str, int, float, int]] = (),
    rationales: dict[int, tuple[int | tuple, str]] | None = None,
    pseudonyms: dict[int, str] | None = None,
    multi_label: bool = False,
    spans: bool = False,
) -> tuple[str, list]:
    """(sql, params) of the one PostgreSQL query selecting a release's clean rows: the decided
    examples (and `extra` rows, Dawid-Skene's: example id, external id, label id, agreement,
    n_raters) that pass `policy` (policy_accepts and tag_filter_accepts, in SQL), with what the
    split and the item need: example_id, external_id, label_key (the label id, or a multi-label
    project's sorted ids as JSON text: what splits are stratified by), label (the name, or the
    names joined by "|"; a span project's policy.spans_label_text), label_list (a multi-label
    project's names, jsonb), spans (a span project's sorted [start, end, name]), source, agreement
    (unrounded; a gold label's is its raters' share), n_raters, previous_split, stratum, rank
    (split_rank), versions (jsonb), rationale, raters (jsonb, keys from `pseudonyms`). Label
    names of a set are in the project's label order. Span releases are not stratified by answer
    (each example's spans are nearly its own): their label_key is "".

    The current annotations are summed up per example in one hash aggregate, and only into
    what the policy and the formats need: an ambiguous flag (when ambiguous labels are
    excluded), a bit mask of guideline versions (no sorted array per example), and the raters'
    labels only when the release includes them. A gold label's share of votes is looked up
    for the gold rows alone."""
    stratum, stratum_params = _stratum_sql(policy.stratify_field)
    use_mask = not GuidelineVersion.objects.filter(project=project, number__gt=VERSION_MASK_MAX).exists()
    aggregates = ["bool_or(a.ambiguous) AS ambiguous"]
    joins = [f"LEFT JOIN {GUIDELINE_VERSION_TABLE} g ON g.id = a.guideline_version_id"]
    params: list = []
    if use_mask:
        aggregates.append("bit_or(1::bigint << g.number) AS vmask")
    else:
        aggregates.append(
            "coalesce(jsonb_agg(DISTINCT g.number ORDER BY g.number) FILTER (WHERE g.number IS NOT NULL), "
            "'[]') AS versions"
        )
    if pseudonyms is not None:
        voted = "rl.objects" if spans else "rl.names" if multi_label else "rl.name"
        aggregates.append(
            f"jsonb_object_agg(rp.pseudonym, {voted}) FILTER (WHERE rp.pseudonym IS NOT NULL) AS raters"
        )
        joins.append(
            "LEFT JOIN unnest(%s::int[], %s::text[]) AS rp(rater_id, pseudonym) ON rp.rater_id = a.rater_id "
            + (
                f"LEFT JOIN LATERAL ({_span_names_sql('a.spans')}) rl ON true"
                if spans
                else f"LEFT JOIN LATERAL ({_label_names_sql('a.labels')}) rl ON true"
                if multi_label
                else f"LEFT JOIN {LABEL_TABLE} rl ON rl.id = a.label_id"
            )
        )
        params += [list(pseudonyms), list(pseudonyms.values())]
    # Without the raters, an annotation neither ambiguous nor under a guideline version adds
    # nothing to the summary (an example without any reads as not ambiguous, no versions): only
    # the others are summed up, often a small share of them.
    relevant = "" if pseudonyms is not None else " AND (a.ambiguous OR a.guideline_version_id IS NOT NULL)"
    votes = (
        f"votes AS (SELECT a.example_id, {', '.join(aggregates)} "
        f"FROM {ANNOTATION_TABLE} a JOIN {EXAMPLE_TABLE} ve ON ve.id = a.example_id {' '.join(joins)} "
        f"WHERE ve.project_id = %s AND a.superseded_at IS NULL{relevant} GROUP BY a.example_id)"
    )
    params.append(project.pk)
    decided = (
        "SELECT c.example_id, c.label_id, c.labels, c.spans, c.source::text AS source, c.agreement, "
        "c.n_raters "
        f"FROM {CONSENSUS_TABLE} c WHERE c.source = ANY(%s) AND c.source <> 'excluded'"
    )
    params.append([s for s in policy.sources if s != "dawid_skene"])
    if extra:
        decided += (
            " UNION ALL SELECT x.example_id, x.label_id, NULL::jsonb, NULL::jsonb, 'dawid_skene', "
            "x.agreement, x.n_raters "
            "FROM "
            "unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::int[]) AS x(example_id, label_id, "
            "agreement, n_raters)"
        )
        params += [[r[0] for r in extra], [r[2] for r in extra], [r[3] for r in extra], [r[4] for r in extra]]
    same_answer = (
        "ga.spans = d.spans"
        if spans
        else "ga.labels = d.labels"
        if multi_label
        else "ga.label_id = d.label_id"
    )
    gold_share = (
        f"(SELECT count(*) FILTER (WHERE {same_answer})::float8 / nullif(count(*), 0) "
        f"FROM {ANNOTATION_TABLE} ga WHERE ga.example_id = d.example_id AND ga.superseded_at IS NULL)"
    )
    agreement = f"CASE WHEN d.source = 'gold' THEN coalesce({gold_share}, d.agreement) ELSE d.agreement END"
    if use_mask:
        versions = "coalesce(vm.versions, '[]'::jsonb)"
        vmap = (
            ", vmap AS (SELECT m.vmask, (SELECT jsonb_agg(n ORDER BY n) "
            f"FROM generate_series(0, {VERSION_MASK_MAX}) n "
            "WHERE m.vmask & (1::bigint << n) <> 0) AS versions "
            "FROM (SELECT DISTINCT vmask FROM votes WHERE vmask IS NOT NULL) m)"
        )
        vmap_join = "LEFT JOIN vmap vm ON vm.vmask = v.vmask "
    else:
        versions, vmap, vmap_join = "coalesce(v.versions, '[]'::jsonb)", "", ""
    if rationales:
        rationale = "gr.rationale"
        rationale_join = (
            "LEFT JOIN unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
            "AS gr(example_id, label_id, answer, rationale) "
            "ON d.source = 'gold' AND gr.example_id = d.example_id "
            "AND (gr.label_id = d.label_id OR gr.answer = coalesce(d.spans, d.labels)::text) "
        )
        answers = [answer for answer, _ in rationales.values()]
        rationale_params = [
            list(rationales),
            [None if isinstance(answer, tuple) else answer for answer in answers],
            [_answer_jsonb_text(answer) if isinstance(answer, tuple) else None for answer in answers],
            [text for _, text in rationales.values()],
        ]
    else:
        rationale, rationale_join, rationale_params = "NULL::text", "", []
    raters = "coalesce(v.raters, '{}'::jsonb)" if pseudonyms is not None else "NULL::jsonb"
    where = ["e.project_id = %s"]
    where_params: list = [project.pk]
    # policy_accepts: gold always; otherwise not ambiguous (if excluded) and above the floor.
    accepts = []
    if policy.exclude_ambiguous:
        accepts.append("NOT coalesce(v.ambiguous, false)")
    accepts.append(
        "(CASE WHEN d.agreement IS NULL THEN %s::float8 <= 0 ELSE d.agreement + 1e-9 >= %s::float8 END)"
    )
    where.append(f"(d.source = 'gold' OR ({' AND '.join(accepts)}))")
    where_params += [policy.min_agreement, policy.min_agreement]
    tag_table = ExampleTag._meta.db_table
    if policy.include_tags:
        where.append(f"EXISTS (SELECT 1 FROM {tag_table} t WHERE t.example_id = e.id AND t.name = ANY(%s))")
        where_params.append(list(policy.include_tags))
    if policy.exclude_tags:
        where.append(
            f"NOT EXISTS (SELECT 1 FROM {tag_table} t WHERE t.example_id = e.id AND t.name = ANY(%s))"
        )
        where_params.append(list(policy.exclude_tags))
    if spans:
        label_columns = "''::text AS label_key, dl.joined AS label, NULL::jsonb AS label_list, dl.spans"
        label_join = f"LEFT JOIN LATERAL ({_span_names_sql('d.spans')}) dl ON true "
    elif multi_label:
        label_columns = (
            "d.labels::text AS label_key, dl.joined AS label, dl.names AS label_list, NULL::jsonb AS spans"
        )
        label_join = f"LEFT JOIN LATERAL ({_label_names_sql('d.labels')}) dl ON true "
    else:
        label_columns = (
            "d.label_id::text AS label_key, dl.name AS label, NULL::jsonb AS label_list, NULL::jsonb AS spans"
        )
        label_join = f"JOIN {LABEL_TABLE} dl ON dl.id = d.label_id "
    sql = (
        f"WITH {votes}{vmap}, decided AS ({decided}) "
        f"SELECT d.example_id, e.external_id, {label_columns}, d.source, {agreement} AS agreement, "
        "d.n_raters, "
        f'p.split AS previous_split, ({stratum}) COLLATE "C" AS stratum, '
        "sha256(convert_to(%s || E'\\x1f' || e.external_id, 'UTF8')) AS rank, "
        f"{versions} AS versions, {rationale} AS rationale, {raters} AS raters "
        f"FROM decided d JOIN {EXAMPLE_TABLE} e ON e.id = d.example_id {label_join}"
        "LEFT JOIN votes v ON v.example_id = d.example_id "
        f"{vmap_join}{rationale_join}"
        f"LEFT JOIN {ITEM_TABLE} p ON p.release_id = %s AND p.external_id = e.external_id "
        f"WHERE {' AND '.join(where)}"
    )
    previous_id = previous.pk if previous else None
    params += [*stratum_params, policy.seed, *rationale_params, previous_id, *where_params]
    return sql, params


def _release_candidates_python(
    project: Project, previous: DatasetRelease | None, seed: str, stratify_field: str, with_raters: bool
) -> list[Candidate]:
    """release_candidates on a database without PostgreSQL's aggregates (SQLite: small projects),
    from the same two reads, summed up and sorted here."""
    votes = current_votes(project=project)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.example_id, e.external_id, c.label_id, c.labels, c.spans, c.source, c.agreement, "
            "c.n_raters, "
            f"p.split, e.metadata FROM {CONSENSUS_TABLE} c JOIN {EXAMPLE_TABLE} e ON e.id = c.example_id "
            f"LEFT JOIN {ITEM_TABLE} p ON p.release_id = %s AND p.external_id = e.external_id "
            "WHERE e.project_id = %s AND c.source <> 'excluded'",
            [previous.pk if previous else None, project.pk],
        )
        rows = cursor.fetchall()
    out = []
    for eid, xid, lab, lab_set, lab_spans, src, agr, n, prev, meta in rows:
        if lab is None:
            lab = _answer(_json(lab_set), _json(lab_spans))
        decision = votes.get(eid)
        summary = decision.summary(lab, with_raters) if decision else (False, 0, 0, [], [], [])
        out.append(
            Candidate(eid, xid, lab, src, agr, n, prev, _stratum_python(meta, stratify_field), *summary,
                      split_rank(seed, xid))
        )  # fmt: skip
    return sorted(out, key=Candidate.order)


def _answer(labels: list | None, spans: list | None) -> tuple:
    """A multi-label answer as the sorted tuple of its label ids; a span answer as the sorted
    tuple of its (start, end, label id)."""
    if spans is not None:
        return tuple(sorted(tuple(span) for span in spans))
    return tuple(labels or ())


def _answer_jsonb_text(answer: tuple) -> str:
    """A set's or spans' stored list (as _answer reads it) in jsonb's text form ("[[0, 12, 5]]")."""
    return json.dumps([list(part) if isinstance(part, tuple) else part for part in answer])


def _label_names_sql(ids: str) -> str:
    """A subquery of the names of the label ids in the jsonb array `ids`, in the project's label
    order: `names` (jsonb array) and `joined` (by "|")."""
    return (
        "SELECT coalesce(jsonb_agg(ln.name ORDER BY ln.position, ln.id), '[]'::jsonb) AS names, "
        "coalesce(string_agg(ln.name, '|' ORDER BY ln.position, ln.id), '') AS joined "
        f"FROM jsonb_array_elements_text({ids}) AS li(id) JOIN {LABEL_TABLE} ln ON ln.id = li.id::bigint"
    )


def _span_names_sql(spans: str) -> str:
    """A subquery of the jsonb span list `spans` ([start, end, label id] each) with label names:
    `spans` (jsonb, sorted [start, end, name]), `objects` (the same as policy.span_objects) and
    `joined` (policy.spans_label_text's text)."""
    order = 'ORDER BY sp.start, sp.stop, ln.name COLLATE "C"'
    objects = "jsonb_build_object('start', sp.start, 'end', sp.stop, 'label', ln.name)"
    return (
        f"SELECT coalesce(jsonb_agg(jsonb_build_array(sp.start, sp.stop, ln.name) {order}), '[]'::jsonb) "
        f"AS spans, coalesce(jsonb_agg({objects} {order}), '[]'::jsonb) AS objects, "
        f"coalesce(string_agg(sp.start || ':' || sp.stop || ':' || ln.name, '|' {order}), '') AS joined "
        f"FROM (SELECT (v ->> 0)::bigint AS start, (v ->> 1)::bigint AS stop, (v ->> 2)::bigint AS label_id "
        f"FROM jsonb_array_elements({spans}) AS v) sp JOIN {LABEL_TABLE} ln ON ln.id = sp.label_id"
    )


def example_strata(*, project: Project, example_ids: Sequence[int], stratify_field: str) -> dict[int, str]:
    """{example id: stratum} of these examples, computed as release_candidates does."""
    out: dict[int, str] = {}
    examples = project.examples.order_by()
    for start in range(0, len(example_ids), ROW_BATCH):
        chunk = list(example_ids[start : start + ROW_BATCH])
        if connection.vendor == "postgresql" and stratify_field:
            stratum, params = _stratum_sql(stratify_field)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT e.id, {stratum} FROM {EXAMPLE_TABLE} e "
                    "WHERE e.project_id = %s AND e.id = ANY(%s)",
                    [*params, project.pk, chunk],
                )
                out.update(cursor.fetchall())
        else:
            for example_id, metadata in examples.filter(id__in=chunk).values_list("id", "metadata"):
                out[example_id] = _stratum_python(metadata, stratify_field)
    return out


def release_splits_of(*, release: DatasetRelease | None, external_ids: Sequence[str]) -> dict[str, str]:
    """{external_id: split} of these examples in a release (those it holds)."""
    if release is None:
        return {}
    out: dict[str, str] = {}
    for start in range(0, len(external_ids), ROW_BATCH):
        chunk = list(external_ids[start : start + ROW_BATCH])
        items = DatasetReleaseItem.objects.filter(release=release, external_id__in=chunk)
        out.update(items.values_list("external_id", "split"))
    return out


def _order_by_external_id() -> str:
    # Byte order of UTF-8 = code point order = Python's str sort: the same order on both databases.
    return 'i.external_id COLLATE "C"' if connection.vendor == "postgresql" else "i.external_id"


class CopyRows:
    """The sink of a COPY TO of file rows (FILE_ROW_SQL): psycopg2 writes one row per call; every
    ROW_BATCH rows are parsed (COPY's CSV with control characters as delimiter and quote, C-speed
    csv.reader) and handed on. The rows must come in strictly ascending external id order (code
    point order, as PostgreSQL's COLLATE "C"): a batch out of order stops the build. `count` is
    the number of rows handed on."""

    COPY_OPTIONS = "WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"

    def __init__(self, handle: Callable[[list[tuple]], None]):
        self.handle = handle
        self.parts: list[bytes] = []
        self.count = 0
        self.last: str | None = None

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        if len(self.parts) >= ROW_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        text = b"".join(self.parts).decode()
        self.parts = []
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\x02", quotechar="\x01")
        # A CSV COPY cannot tell NULL from empty text: the rationale comes with an "x" in front.
        rows = [
            (
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5] or None,
                r[6],
                r[7],
                r[8],
                r[9][1:] if r[9] else None,
                r[10] or None,
                r[11] or None,
                r[12] or None,
            )
            for r in reader
        ]
        ids = [row[0] for row in rows]
        if (self.last is not None and ids[0] <= self.last) or any(a >= b for a, b in pairwise(ids)):
            raise ApplicationError("The release's rows came out of external id order.")
        self.last = ids[-1]
        self.count += len(rows)
        self.handle(rows)


# A span item's spans as the files give them: objects {"start", "end", "label"} in its order. Only
# a span item runs the subquery (an aggregate per row cost a 1M-row release seconds for nothing).
SPAN_OBJECTS_SQL = (
    "CASE WHEN i.spans IS NULL THEN NULL ELSE (SELECT coalesce(jsonb_agg(jsonb_build_object("
    "'start', x.v -> 0, 'end', x.v -> 1, 'label', x.v -> 2) ORDER BY x.n), '[]'::jsonb) "
    "FROM jsonb_array_elements(i.spans) WITH ORDINALITY AS x(v, n))::text END"
)


# A file row (the writers' tuple) of an item `i` and its example `e`, every value as text.
FILE_ROW_SQL = (
    "i.external_id, e.text, i.label, i.source, i.split, round(i.agreement::numeric, 4), "
    "i.n_raters, i.guideline_versions::text, e.metadata::text, "
    "CASE WHEN i.rationale IS NULL THEN NULL ELSE 'x' || i.rationale END, i.raters::text, "
    f"i.labels::text, {SPAN_OBJECTS_SQL}"
)


def release_rows(*, release: DatasetRelease, handle: Callable[[list[tuple]], None]) -> None:
    """Hand `handle` the release's file rows (the writers' tuples, consistency.releases.writers) in
    external id order, in batches: one query joining its items to their examples. PostgreSQL
    renders the JSON values and streams the rows out with COPY while they are written, so they
    are never all in Python; elsewhere they are read in chunks and rendered by policy.jsonb_text."""
    sql_from = (
        f"FROM {ITEM_TABLE} i JOIN {EXAMPLE_TABLE} e ON e.id = i.example_id "
        f"WHERE i.release_id = {int(release.pk)} ORDER BY {_order_by_external_id()}"
    )
    if connection.vendor == "postgresql":
        sql = f"SELECT {FILE_ROW_SQL} {sql_from}"
        sink = CopyRows(handle)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(BUILD_SETTINGS_SQL)
            cursor.cursor.copy_expert(f"COPY ({sql}) TO STDOUT {CopyRows.COPY_OPTIONS}", sink)
        sink.flush()
        return
    sql = (
        "SELECT i.external_id, e.text, i.label, i.source, i.split, i.agreement, i.n_raters, "
        "i.guideline_versions, e.metadata, i.rationale, i.raters, i.labels, i.spans " + sql_from
    )
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(ROW_BATCH):
            handle(
                [
                    (
                        eid,
                        text,
                        label,
                        source,
                        split,
                        agreement_text(agreement),
                        str(n_raters),
                        jsonb_text([int(v) for v in _json(versions) or []]),
                        jsonb_text(_json(meta)),
                        rationale,
                        None if raters is None else jsonb_text(_json(raters)),
                        None if labels is None else jsonb_text(_json(labels)),
                        None if spans is None else jsonb_text(span_objects(_json(spans))),
                    )  # fmt: skip
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
                        labels,
                        spans,
                    ) in chunk
                ]
            )


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def example_tag_sets(*, project: Project, names: Sequence[str]) -> dict[int, frozenset[str]]:
    """{example id: the tags among `names` it carries}, for the release policy's tag filters."""
    found: dict[int, set[str]] = {}
    rows = ExampleTag.objects.filter(project=project, name__in=list(names)).values_list("example_id", "name")
    for example_id, name in rows.iterator(chunk_size=10_000):
        found.setdefault(example_id, set()).add(name)
    return {example_id: frozenset(tags) for example_id, tags in found.items()}
