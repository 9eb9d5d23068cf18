"""Agreement selectors: the one place that turns a project's annotations into the integer arrays
`consistency.agreement.statistics` works on, and turns the statistics' codes back into usernames
and label names.

Arrays come from one `values_list` query over the project's annotations (plus one for the labels and
one for the raters' usernames). Items are example ids, raters are user ids, labels are codes 0..q-1 in
the project's label order (`position`, then id), which is also the order of an ordinal scale.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from consistency.agreement import hlp, label_sets, spans
from consistency.agreement import messages as agreement_messages
from consistency.agreement import statistics as stats
from consistency.agreement.models import AgreementReport
from consistency.review.models import RelabeledExample, RelabelRequest
from core.errors import NotFound
from labeling.models import Annotation
from projects.models import Example, ExampleTag, Label, Project, TaskType

# A slice field with more distinct values than this is summarised: the most frequent values get
# their own row and the rest are counted in `slices.n_values_left_out`.
MAX_SLICE_VALUES = 25
FETCH_BLOCK_ROWS = 100_000
NO_VERSION = 0  # guideline versions are numbered from 1, so 0 stands for "no version" in arrays
MISSING_SLICE_VALUE = None
# The slice "field" that makes one slice per tag (an example is in as many slices as it has tags).
# A "#" starts no metadata key the dashboard offers, so it cannot clash with a real field.
TAG_SLICE = "#tags"
# The keys of `statistics.coefficients`, also present in `agreement_summary`.
SUBSET_KEYS = (
    "n_items", "n_items_overlap", "n_raters", "n_annotations",
    "percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1",
)  # fmt: skip

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class AgreementArrays:
    """One row per annotation. `labels` are codes into `label_names`."""

    items: np.ndarray
    raters: np.ndarray
    labels: np.ndarray
    versions: np.ndarray  # guideline version number, NO_VERSION when none
    label_ids: list[int]
    label_names: list[str]
    ordinal: bool
    # With a slice field: per annotation a code into `slice_names` (the field's values, None if missing).
    slice_codes: np.ndarray | None = None
    slice_names: list[str | None] | None = None
    # 1 for a current annotation, 0 for one superseded by relabeling (kept for per-version history).
    current: np.ndarray | None = None
    # The annotation's id: ids grow with time, so the highest is a rater's newest label.
    ids: np.ndarray | None = None
    # Weights of Cohen's kappa on an ordinal scale: "linear" or "quadratic".
    kappa_weights: str = "quadratic"
    # Multi-label projects: per annotation the chosen labels, an (n, n_labels) boolean matrix
    # (`labels` is then all zeros and unused).
    label_sets: np.ndarray | None = None
    # Span projects: [annotation row, start, end, label code] per span (rows index these arrays),
    # and the annotated examples' tokens as [example id, start, end] (`spans.token_table`).
    spans: np.ndarray | None = None
    tokens: np.ndarray | None = None

    @property
    def multi(self) -> bool:
        return self.label_sets is not None

    @property
    def span_task(self) -> bool:
        return self.spans is not None

    def _spans_of(self, mask: np.ndarray) -> np.ndarray | None:
        """The spans of the kept annotations, their rows renumbered."""
        if self.spans is None:
            return None
        new_row = np.cumsum(mask) - 1
        kept = self.spans[mask[self.spans[:, 0]]]
        return np.column_stack([new_row[kept[:, 0]], kept[:, 1:]])

    def subset(self, mask: np.ndarray) -> AgreementArrays:
        return replace(
            self,
            items=self.items[mask],
            raters=self.raters[mask],
            labels=self.labels[mask],
            versions=self.versions[mask],
            slice_codes=None if self.slice_codes is None else self.slice_codes[mask],
            label_sets=None if self.label_sets is None else self.label_sets[mask],
            spans=self._spans_of(np.asarray(mask, dtype=bool)),
            current=None if self.current is None else self.current[mask],
            ids=None if self.ids is None else self.ids[mask],
        )

    def current_only(self) -> AgreementArrays:
        """The annotations that count for the examples now (relabeled ones' old labels left out)."""
        if self.current is None or bool(self.current.all()):
            return self
        return self.subset(self.current == 1)

    def latest_per_version(self) -> AgreementArrays:
        """For each rater, example and guideline version, only the newest annotation.

        An example sent back twice under one version holds two (superseded, then current) labels
        by the same rater under that version; agreement under the version counts the newest once.
        """
        if self.current is None:
            suspects = np.ones(len(self), dtype=bool)
        else:
            # Only an example with a superseded annotation can hold two by one rater under a version.
            suspects = np.isin(self.items, self.items[self.current == 0])
        if not suspects.any():
            return self
        idx = np.nonzero(suspects)[0]
        ids = self.ids[idx] if self.ids is not None else idx
        keep = np.ones(len(self), dtype=bool)
        keep[idx] = stats.latest_per_rater_and_version(
            self.items[idx], self.raters[idx], self.versions[idx], ids
        )
        return self if bool(keep.all()) else self.subset(keep)

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    def __len__(self) -> int:
        return len(self.labels)


def agreement_arrays(*, project: Project, slice_field: str = "") -> AgreementArrays:
    """The project's annotations as arrays. `slice_field` must already be validated.

    Queries: the labels, the annotations (six integer columns), and with a slice field the value of
    that field per example (one row per example, not per annotation). A multi-label project's
    label sets come with the annotations (`_label_set_arrays`).
    """
    labels = list(Label.objects.filter(project=project).order_by("position", "id").values_list("id", "name"))
    label_ids = [pk for pk, _ in labels]
    if project.task_type == TaskType.MULTI:
        return _label_set_arrays(project, labels, slice_field)
    if project.task_type == TaskType.SPANS:
        return _span_arrays(project, labels, slice_field)
    queryset = (
        _annotation_columns(project)
        .filter(label__isnull=False)
        .order_by()
        .values_list("example_id", "rater_id", "label_id", "version", "current", "id")
    )
    numeric = _fetch_int_matrix(queryset, n_columns=6)
    # Label ids -> codes in label order, vectorised.
    id_array = np.asarray(label_ids, dtype=np.int64)
    order = np.argsort(id_array)
    codes = order[np.searchsorted(id_array[order], numeric[:, 2])] if len(numeric) else numeric[:, 2]
    slice_codes, slice_names = (None, None)
    if slice_field and slice_field != TAG_SLICE:
        slice_codes, slice_names = _slice_codes(project, slice_field, numeric[:, 0])
    return AgreementArrays(
        items=numeric[:, 0].copy(),
        raters=numeric[:, 1].copy(),
        labels=codes.astype(np.int64),
        versions=numeric[:, 3].copy(),
        label_ids=label_ids,
        label_names=[name for _, name in labels],
        ordinal=project.labels_are_ordinal,
        kappa_weights=project.kappa_weights,
        slice_codes=slice_codes,
        slice_names=slice_names,
        current=numeric[:, 4].copy(),
        ids=numeric[:, 5].copy(),
    )


def _annotation_columns(project: Project):
    """The project's annotations with their guideline version number and whether they are current."""
    return Annotation.objects.filter(example__project=project).annotate(
        version=Coalesce("guideline_version__number", Value(NO_VERSION), output_field=IntegerField()),
        current=Case(When(superseded_at__isnull=True, then=Value(1)), default=Value(0)),
    )


def _label_set_arrays(project: Project, labels: list[tuple[int, str]], slice_field: str) -> AgreementArrays:
    """A multi-label project's annotations: the integer columns as for single labels, and each
    annotation's label set (its JSON list of label ids) as a row of a boolean matrix. One query;
    a set holds a few ids, so reading them costs about as much as the integer columns."""
    label_ids = [pk for pk, _ in labels]
    code_of = {pk: code for code, pk in enumerate(label_ids)}
    queryset = (
        _annotation_columns(project)
        .filter(labels__isnull=False)
        .order_by("id")
        .values_list("example_id", "rater_id", "version", "current", "id", "labels")
    )
    numeric: list[tuple[int, ...]] = []
    rows: list[int] = []
    codes: list[int] = []
    for index, (*columns, chosen) in enumerate(queryset.iterator(chunk_size=FETCH_BLOCK_ROWS)):
        numeric.append(tuple(columns))
        for label_id in chosen or ():
            code = code_of.get(label_id)
            if code is not None:  # a label of the project (sets are checked when written)
                rows.append(index)
                codes.append(code)
    matrix = np.asarray(numeric, dtype=np.int64).reshape(-1, 5)
    sets = np.zeros((len(matrix), len(label_ids)), dtype=bool)
    sets[np.asarray(rows, dtype=np.int64), np.asarray(codes, dtype=np.int64)] = True
    slice_codes, slice_names = (None, None)
    if slice_field and slice_field != TAG_SLICE:
        slice_codes, slice_names = _slice_codes(project, slice_field, matrix[:, 0])
    return AgreementArrays(
        items=matrix[:, 0].copy(),
        raters=matrix[:, 1].copy(),
        labels=np.zeros(len(matrix), dtype=np.int64),
        versions=matrix[:, 2].copy(),
        label_ids=label_ids,
        label_names=[name for _, name in labels],
        ordinal=False,
        kappa_weights=project.kappa_weights,
        slice_codes=slice_codes,
        slice_names=slice_names,
        current=matrix[:, 3].copy(),
        ids=matrix[:, 4].copy(),
        label_sets=sets,
    )


def _span_arrays(project: Project, labels: list[tuple[int, str]], slice_field: str) -> AgreementArrays:
    """A span project's annotations: the integer columns as for single labels, each annotation's
    spans (its JSON list of [start, end, label id]) as rows of one array, and the tokens of the
    annotated examples' texts (`spans.tokenize`). Two queries."""
    label_ids = [pk for pk, _ in labels]
    code_of = {pk: code for code, pk in enumerate(label_ids)}
    queryset = (
        _annotation_columns(project)
        .filter(spans__isnull=False)
        .order_by("id")
        .values_list("example_id", "rater_id", "version", "current", "id", "spans")
    )
    numeric: list[tuple[int, ...]] = []
    span_rows: list[tuple[int, int, int, int]] = []
    for index, (*columns, marked) in enumerate(queryset.iterator(chunk_size=FETCH_BLOCK_ROWS)):
        numeric.append(tuple(columns))
        for start, end, label_id in marked or ():
            code = code_of.get(label_id)
            if code is not None:  # spans are checked when written
                span_rows.append((index, start, end, code))
    matrix = np.asarray(numeric, dtype=np.int64).reshape(-1, 5)
    # The texts of the examples with spans (a subquery: no list of ids in the SQL).
    marked = Annotation.objects.filter(example=OuterRef("pk"), spans__isnull=False)
    texts = list(
        Example.objects.filter(Exists(marked), project=project).order_by("id").values_list("id", "text")
    )
    ids, bodies = (list(column) for column in zip(*texts, strict=True)) if texts else ([], [])
    slice_codes, slice_names = (None, None)
    if slice_field and slice_field != TAG_SLICE:
        slice_codes, slice_names = _slice_codes(project, slice_field, matrix[:, 0])
    return AgreementArrays(
        items=matrix[:, 0].copy(),
        raters=matrix[:, 1].copy(),
        labels=np.zeros(len(matrix), dtype=np.int64),
        versions=matrix[:, 2].copy(),
        label_ids=label_ids,
        label_names=[name for _, name in labels],
        ordinal=False,
        kappa_weights=project.kappa_weights,
        slice_codes=slice_codes,
        slice_names=slice_names,
        current=matrix[:, 3].copy(),
        ids=matrix[:, 4].copy(),
        spans=np.asarray(span_rows, dtype=np.int64).reshape(-1, 4),
        tokens=spans.token_table(ids, bodies),
    )


def _fetch_int_matrix(queryset, *, n_columns: int) -> np.ndarray:
    """Run an integer-only values_list query and read it into an (n, n_columns) int64 array.

    The SQL is the ORM's; the rows are read with the DB-API cursor in blocks and turned into NumPy
    block by block. Iterating the queryset row by row costs more than the query itself at a million
    rows (about 0.7 s of 1.5 s on PostgreSQL), and reading in blocks keeps at most one block of
    Python tuples alive instead of a million.
    """
    sql, params = queryset.query.sql_with_params()
    if connection.vendor == "postgresql":
        return _copy_int_matrix(sql, params, n_columns=n_columns)
    blocks = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_BLOCK_ROWS):
            flat = chain.from_iterable(rows)
            blocks.append(
                np.fromiter(flat, dtype=np.int64, count=n_columns * len(rows)).reshape(-1, n_columns)
            )
    return np.concatenate(blocks) if blocks else np.zeros((0, n_columns), dtype=np.int64)


def _copy_int_matrix(sql: str, params, *, n_columns: int) -> np.ndarray:
    """PostgreSQL: stream the query through COPY ... TO STDOUT and let NumPy parse the text.

    About twice as fast as fetching rows at a million annotations. Safe here because every column
    is a non-null integer (the query coalesces the nullable ones), so the text is only digits,
    minus signs, tabs and newlines; psycopg2's mogrify quotes the parameters.
    """
    buffer = io.StringIO()
    with connection.cursor() as cursor:
        query = cursor.cursor.mogrify(sql, params).decode()
        cursor.cursor.copy_expert(f"COPY ({query}) TO STDOUT", buffer)
    text = buffer.getvalue()
    if not text:
        return np.zeros((0, n_columns), dtype=np.int64)
    # With a blank separator NumPy skips any run of whitespace: tabs and newlines alike.
    values = np.fromstring(text, dtype=np.int64, sep=" ")
    return values.reshape(-1, n_columns)


@dataclass(frozen=True)
class RelabelArrays:
    """One row per example a relabel request sent back: the example, the highest annotation id
    when it was sent back, and whether the request chose its examples by their labels."""

    items: np.ndarray
    marks: np.ndarray
    selected: np.ndarray


def relabel_arrays(*, project: Project) -> RelabelArrays:
    """Every example the project's relabel requests sent back (one query, integer columns)."""
    queryset = (
        RelabeledExample.objects.filter(request__project=project)
        .annotate(
            selected=Case(
                When(request__scope__in=RelabelRequest.OUTCOME_SELECTED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by()
        .values_list("example_id", "annotation_mark", "selected")
    )
    numeric = _fetch_int_matrix(queryset, n_columns=3)
    return RelabelArrays(items=numeric[:, 0].copy(), marks=numeric[:, 1].copy(), selected=numeric[:, 2] == 1)


def _slice_codes(project: Project, field: str, items: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Per annotation, a code for the value of metadata `field` of its example; names[code] is the value."""
    # KeyTextTransform treats the name as one key (never as a chain of lookups).
    per_example = list(
        Example.objects.filter(project=project)
        .annotate(slice_value=KeyTextTransform(field, "metadata"))
        .order_by("id")
        .values_list("id", "slice_value")
    )
    code_of: dict[str | None, int] = {}
    example_ids = np.fromiter((pk for pk, _ in per_example), dtype=np.int64, count=len(per_example))
    example_codes = np.fromiter(
        (code_of.setdefault(_slice_value(value), len(code_of)) for _, value in per_example),
        dtype=np.int64,
        count=len(per_example),
    )
    if len(items) == 0:
        return np.zeros(0, dtype=np.int64), list(code_of)
    return example_codes[np.searchsorted(example_ids, items)], list(code_of)


def _slice_value(value: Any) -> str | None:
    """Slice values as strings (JSON numbers and booleans included) so they group and sort alike."""
    if value is None:
        return MISSING_SLICE_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def usernames(*, user_ids: np.ndarray) -> dict[int, str]:
    ids = [int(pk) for pk in np.unique(user_ids)]
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))


def gold_codes(
    *, arrays: AgreementArrays, gold: Mapping[int, Any] | None
) -> dict[int, int | tuple[int, int]] | None:
    """Gold labels as {example id: label code} or {example id: (label code, SME's user id)}.

    `gold` maps example ids to label ids, or to (label id, SME's user id) as `gold_labels` gives
    them (labels of other projects ignored). The report passes the SME labels of current resolutions.
    """
    if gold is None:
        return None
    if arrays.multi or arrays.span_task:
        return _answer_gold_codes(arrays=arrays, gold=gold)
    code_of = {label_id: code for code, label_id in enumerate(arrays.label_ids)}
    out: dict[int, int | tuple[int, int]] = {}
    for example, value in gold.items():
        label, sme = (value[0], value[1]) if isinstance(value, tuple | list) else (value, None)
        if label in code_of:
            out[int(example)] = code_of[label] if sme is None else (code_of[label], int(sme))
    return out


def _answer_gold_codes(*, arrays: AgreementArrays, gold: Mapping[int, Any]) -> dict[int, tuple[Any, Any]]:
    """The SME's label sets or spans (`gold_labels`' pairs of answer and SME) in the arrays' codes:
    {example id: (a boolean row over the labels, or a frozenset of (start, end, label code); the
    SME's user id)}. An answer naming a label the project no longer has is left out."""
    code_of = {label_id: code for code, label_id in enumerate(arrays.label_ids)}
    out: dict[int, tuple[Any, Any]] = {}
    for example, value in gold.items():
        if not isinstance(value, tuple | list) or len(value) != 2:
            continue
        answer, sme = value
        if arrays.span_task and isinstance(answer, tuple | list):
            if all(len(span) == 3 and span[2] in code_of for span in answer):
                out[int(example)] = (frozenset((s, e, code_of[label]) for s, e, label in answer), sme)
        elif arrays.multi and isinstance(answer, tuple | list) and all(label in code_of for label in answer):
            row = np.zeros(arrays.n_labels, dtype=bool)
            row[[code_of[label] for label in answer]] = True
            out[int(example)] = (row, sme)
    return out


def agreement_compute(
    *,
    project: Project,
    slice_field: str = "",
    gold: Mapping[int, Any] | None = None,
    progress: Progress | None = None,
    n_boot: int = stats.DEFAULT_N_BOOT,
) -> dict[str, Any]:
    """The agreement JSON contract for `project`: overall, per guideline version and per slice,
    with names for raters and labels and a sentence beside each code (`agreement_messages`).

    `slice_field` must have passed `slice_field_clean`. `progress(percent, text)` is called between
    steps so a background job can show how far it is.
    """
    report = progress or (lambda percent, text: None)
    report(5, "Reading annotations")
    every = agreement_arrays(project=project, slice_field=slice_field)
    # Overall figures, slices and per-rater rows use the current annotations only; the per-version
    # figures use every annotation, so the agreement before a relabeling stays visible.
    arrays = every.current_only()
    names = usernames(user_ids=arrays.raters)
    report(25, "Computing overall agreement")
    sme = gold_codes(arrays=arrays, gold=gold)
    if arrays.multi:
        # Label sets: MASI alpha and per-label presence agreement; agreement with the SME by
        # whole set and per label the SME chose.
        summary = label_sets.label_set_summary(
            arrays.items,
            arrays.raters,
            arrays.label_sets,
            arrays.n_labels,
            gold=sme,
            n_boot=n_boot,
        )
    elif arrays.span_task:
        summary = spans.span_report(
            arrays.items,
            arrays.raters,
            arrays.spans,
            arrays.tokens,
            arrays.n_labels,
            gold=sme,
            n_boot=n_boot,
        )
    else:
        summary = stats.agreement_summary(
            arrays.items,
            arrays.raters,
            arrays.labels,
            max(arrays.n_labels, 1),
            ordinal=arrays.ordinal,
            weights=arrays.kappa_weights,
            gold=sme,
            n_boot=n_boot,
        )
    result = _with_names(summary, arrays.label_names, names)
    result["labels"] = list(arrays.label_names)
    result["task_type"] = project.task_type
    report(60, "Computing agreement per guideline version")
    whole = summary if every is arrays else None
    result["by_guideline_version"] = _by_guideline_version(every.latest_per_version(), n_boot, whole)
    report(70, "Comparing guideline versions on the same examples")
    # The paired before/after comparison is written for single labels; label sets and spans show
    # their per-version figures only.
    result["before_after"] = (
        []
        if arrays.multi or arrays.span_task
        else _before_after(every, relabel_arrays(project=project), n_boot)
    )
    result["slice_field"] = slice_field or None
    if slice_field == TAG_SLICE:
        report(80, "Computing agreement per tag")
        result["slices"] = _by_tag(project, arrays, n_boot)
    elif slice_field:
        report(80, f"Computing agreement per value of {slice_field}")
        result["slices"] = _by_slice(arrays, slice_field, n_boot)
    else:
        result["slices"] = None
    result["computed_at"] = timezone.now().isoformat()
    result = agreement_messages.report_with_messages(result)
    report(100, "Done")
    return result


def _subset_coefficients(arrays: AgreementArrays, mask: np.ndarray, n_boot: int) -> dict[str, Any]:
    if arrays.span_task:
        subset = arrays.subset(np.asarray(mask, dtype=bool))
        return spans.span_coefficients(
            subset.items, subset.raters, subset.spans, subset.tokens, subset.n_labels, n_boot=n_boot
        )
    if arrays.multi:
        return label_sets.coefficients(
            arrays.items[mask],
            arrays.raters[mask],
            arrays.label_sets[mask],
            arrays.n_labels,
            n_boot=n_boot,
        )
    return stats.coefficients(
        arrays.items[mask],
        arrays.raters[mask],
        arrays.labels[mask],
        max(arrays.n_labels, 1),
        ordinal=arrays.ordinal,
        n_boot=n_boot,
    )


def _by_guideline_version(
    arrays: AgreementArrays, n_boot: int, overall: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Coefficients on the annotations made under each guideline version (null: no version, e.g. imported).

    An example labelled under two versions contributes to each version only the ratings made under it;
    `arrays` must hold one annotation per rater, example and version (`latest_per_version`).
    """
    out = []
    versions = np.unique(arrays.versions)
    for version in versions:
        version_number = None if version == NO_VERSION else int(version)
        if len(versions) == 1 and overall is not None:
            # Every annotation is under this version: the subset is the whole, already computed.
            keys = [*SUBSET_KEYS, *(key for key in ("distance", "span_f1") if key in overall)]
            out.append({"version": version_number, **{key: overall[key] for key in keys}})
            continue
        mask = arrays.versions == version
        out.append({"version": version_number, **_subset_coefficients(arrays, mask, n_boot)})
    # Numbered versions in order, then the annotations without a version.
    return sorted(out, key=lambda row: (row["version"] is None, row["version"] or 0))


def _before_after(arrays: AgreementArrays, relabels: RelabelArrays, n_boot: int) -> list[dict[str, Any]]:
    """Each guideline version against the one before it (of those with annotations), on the same
    examples, with the paired bootstrap of `statistics.version_comparison`. `arrays` holds every
    annotation, superseded ones included; the relabel requests split them into labeling rounds."""
    numbered = [int(v) for v in np.unique(arrays.versions) if v != NO_VERSION]
    if len(numbered) < 2:
        return []
    ids = arrays.ids if arrays.ids is not None else np.arange(len(arrays))
    rounds, selected = stats.labeling_rounds(
        arrays.items, ids, relabels.items, relabels.marks, relabels.selected
    )
    return [
        stats.version_comparison(
            arrays.items,
            arrays.raters,
            arrays.labels,
            arrays.versions,
            max(arrays.n_labels, 1),
            before=before,
            after=after,
            order=ids,
            rounds=rounds,
            outcome_selected=selected,
            ordinal=arrays.ordinal,
            n_boot=n_boot,
        )
        for before, after in zip(numbered, numbered[1:], strict=False)
    ]


def _by_slice(arrays: AgreementArrays, field: str, n_boot: int) -> dict[str, Any]:
    codes = arrays.slice_codes if arrays.slice_codes is not None else np.zeros(0, dtype=np.int64)
    names = arrays.slice_names or []
    # Examples per value: the value belongs to the example, so count each example once.
    _, first = np.unique(arrays.items, return_index=True)
    item_counts = np.bincount(codes[first], minlength=len(names)).tolist()
    present = [i for i in range(len(names)) if item_counts[i]]
    ranked = sorted(present, key=lambda i: (-item_counts[i], names[i] is None, names[i] or ""))
    kept = ranked[:MAX_SLICE_VALUES]
    rows = [{"value": names[i], **_subset_coefficients(arrays, codes == i, n_boot)} for i in kept]
    return {"field": field, "values": rows, "n_values_left_out": len(present) - len(kept)}


def _by_tag(project: Project, arrays: AgreementArrays, n_boot: int) -> dict[str, Any]:
    """Agreement per tag: the annotations of the examples carrying each tag (the most used tags
    first; an example with several tags counts in each)."""
    members = slice_members(project=project, tags=True)
    counts = (
        np.bincount(members.codes, minlength=len(members.names)) if members else np.zeros(0, dtype=np.int64)
    )
    ranked = sorted(range(len(counts)), key=lambda i: (-counts[i], members.names[i]))
    kept = ranked[:MAX_SLICE_VALUES]
    rows = []
    for code in kept:
        mask = np.isin(arrays.items, members.examples[members.codes == code])
        rows.append({"value": members.names[code], **_subset_coefficients(arrays, mask, n_boot)})
    return {"field": "tag", "values": rows, "n_values_left_out": len(ranked) - len(kept)}


def _with_names(
    summary: dict[str, Any], label_names: list[str], rater_names: dict[int, str]
) -> dict[str, Any]:
    """Replace the statistics' rater and label codes by usernames and label names."""

    def rater(code: Any) -> str:
        return rater_names.get(int(code), f"user {code}")

    def label(code: Any) -> str:
        return label_names[int(code)] if 0 <= int(code) < len(label_names) else f"label {code}"

    result = dict(summary)
    # pair_alpha: label sets' MASI alpha per rater pair; span_pairs: span F1 per rater pair.
    for key in ("cohen_kappa", "pair_alpha", "span_pairs"):
        if key in summary:
            result[key] = [
                {**pair, "rater_a": rater(pair["rater_a"]), "rater_b": rater(pair["rater_b"])}
                for pair in summary[key]
            ]
    result["per_label"] = [{**row, "label": label(row["label"])} for row in summary["per_label"]][
        : len(label_names)
    ]
    result["per_rater"] = sorted(
        (
            {
                **row,
                "rater": rater(row["rater"]),
                "agreement_with_sme_on_disputed": {
                    **row["agreement_with_sme_on_disputed"],
                    "per_label": [
                        {**cell, "label": label(cell["label"])}
                        for cell in row["agreement_with_sme_on_disputed"]["per_label"]
                    ],
                },
            }
            for row in summary["per_rater"]
        ),
        key=lambda r: r["rater"],
    )
    result["label_confusion"] = [
        {**row, "label_a": label(row["label_a"]), "label_b": label(row["label_b"])}
        for row in summary["label_confusion"]
    ]
    result["diagnostics"] = [
        {
            **item,
            **({"rater": rater(item["rater"])} if "rater" in item else {}),
            **({"label": label(item["label"])} if "label" in item else {}),
        }
        for item in summary["diagnostics"]
    ]
    return result


def kappa_matrix(*, result: dict[str, Any]) -> dict[str, Any]:
    """Rater-pair kappas from a report as a square table for the heatmap: raters, and rows of cells.
    A multi-label report gives each pair's MASI alpha ("pair_alpha") instead."""
    pairs = result.get("cohen_kappa") or result.get("pair_alpha") or []
    raters = sorted(
        {p["rater_a"] for p in pairs}
        | {p["rater_b"] for p in pairs}
        | {r["rater"] for r in result.get("per_rater") or []}
    )
    lookup = {}
    for p in pairs:
        lookup[(p["rater_a"], p["rater_b"])] = p
        lookup[(p["rater_b"], p["rater_a"])] = p
    rows = [{"rater": a, "cells": [None if a == b else lookup.get((a, b)) for b in raters]} for a in raters]
    return {"raters": raters, "rows": rows}


# --------------------------------------------------------------------------------------------------
# Reading stored reports

HISTORY_LENGTH = 50
COEFFICIENTS = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")


# Reports in the order of the data they read: a report reads the annotations as it starts, so the
# latest is the one started last, not the one that finished last (two workers can finish out of
# order) nor the highest number (a stale report can be run again later).
NEWEST_DATA_FIRST = (F("started_at").desc(nulls_last=True), "-id")


def report_latest_succeeded(*, project: Project) -> AgreementReport | None:
    """The succeeded report computed on the newest data."""
    return (
        AgreementReport.objects.filter(project=project, status=AgreementReport.Status.SUCCEEDED)
        .order_by(*NEWEST_DATA_FIRST)
        .first()
    )


def report_pending(*, project: Project) -> AgreementReport | None:
    """The report being computed or waiting to be, if any (the running one first)."""
    return (
        AgreementReport.objects.filter(
            project=project, status__in=[AgreementReport.Status.RUNNING, AgreementReport.Status.QUEUED]
        )
        .order_by(F("started_at").desc(nulls_last=True), "-created_at")
        .first()
    )


def report_latest_failed(*, project: Project) -> AgreementReport | None:
    """The project's newest report, if it failed (the dashboard offers to compute it again)."""
    latest = AgreementReport.objects.filter(project=project).order_by("-created_at", "-id").first()
    return latest if latest is not None and latest.status == AgreementReport.Status.FAILED else None


def report_get(*, project: Project, report_id: int) -> AgreementReport:
    try:
        return project.agreement_reports.get(pk=report_id)
    except AgreementReport.DoesNotExist:
        raise NotFound("Report not found.") from None


def report_history(*, project: Project, limit: int = HISTORY_LENGTH) -> list[dict[str, Any]]:
    """The coefficients of the last `limit` succeeded reports in the order of the data they read
    (oldest first), without loading whole results."""
    rows = (
        AgreementReport.objects.filter(project=project, status=AgreementReport.Status.SUCCEEDED)
        .order_by(*NEWEST_DATA_FIRST)
        .annotate(**{name: KeyTransform(name, "result") for name in COEFFICIENTS})
        .values("id", "started_at", "finished_at", "n_annotations", *COEFFICIENTS)[:limit]
    )
    return [
        {
            "id": row["id"],
            "data_as_of": row["started_at"].isoformat() if row["started_at"] else None,
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
            "n_annotations": row["n_annotations"],
            **{name: _estimate(row[name]) for name in COEFFICIENTS},
        }
        for row in reversed(list(rows))
    ]


def _estimate(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # some backends hand back the JSON text of a key transform
        value = json.loads(value)
    if not isinstance(value, dict):
        return {"value": None, "ci95": None, "reason": None}
    return {"value": value.get("value"), "ci95": value.get("ci95"), "reason": value.get("reason")}


# --------------------------------------------------------------------------------------------------
# Slices (a metadata field, or tags) and human-level performance on gold


@dataclass(frozen=True)
class SliceMembers:
    """Which examples belong to which slice: (example, slice code) pairs and the codes' names.
    A metadata field puts each example in one slice (None: the field is missing); tags put an
    example in as many slices as it has tags."""

    examples: np.ndarray
    codes: np.ndarray
    names: list[str | None]


def slice_members(*, project: Project, slice_field: str = "", tags: bool = False) -> SliceMembers | None:
    """The slices of `project` by a validated metadata field, or by tag; None for no slicing. One query."""
    if tags:
        pairs = list(
            ExampleTag.objects.filter(project=project)
            .order_by("name", "example_id")
            .values_list("example_id", "name")
        )
    elif slice_field:
        pairs = [
            (pk, _slice_value(value))
            for pk, value in Example.objects.filter(project=project)
            .annotate(slice_value=KeyTextTransform(slice_field, "metadata"))
            .order_by("id")
            .values_list("id", "slice_value")
        ]
    else:
        return None
    code_of: dict[str | None, int] = {}
    codes = np.fromiter(
        (code_of.setdefault(name, len(code_of)) for _, name in pairs), dtype=np.int64, count=len(pairs)
    )
    examples = np.fromiter((pk for pk, _ in pairs), dtype=np.int64, count=len(pairs))
    return SliceMembers(examples=examples, codes=codes, names=list(code_of))


@dataclass(frozen=True)
class GoldAnnotations:
    """One row per current annotation on a gold example, its author's own left out."""

    examples: np.ndarray
    raters: np.ndarray  # user ids
    labels: np.ndarray  # label codes in the project's label order
    gold_labels: np.ndarray  # codes of the gold label
    label_ids: list[int]
    label_names: list[str]

    @property
    def correct(self) -> np.ndarray:
        return self.labels == self.gold_labels


def label_codes(project: Project) -> tuple[list[int], list[str], Callable[[np.ndarray], np.ndarray]]:
    labels = list(Label.objects.filter(project=project).order_by("position", "id").values_list("id", "name"))
    ids = np.asarray([pk for pk, _ in labels], dtype=np.int64)
    order = np.argsort(ids)

    def code(values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return np.zeros(0, dtype=np.int64)
        return order[np.searchsorted(ids[order], values)].astype(np.int64)

    return [pk for pk, _ in labels], [name for _, name in labels], code


def gold_annotations(*, project: Project) -> GoldAnnotations:
    """Raters' current annotations on the project's gold examples, with the gold label. One query
    (plus the labels). An annotation by whoever wrote the gold label is not a test of them: dropped."""
    label_ids, label_names, code = label_codes(project)
    rows = (
        Annotation.objects.filter(
            example__project=project,
            superseded_at__isnull=True,
            example__gold__label__isnull=False,
            label__isnull=False,  # single-label answers only: gold is one label
        )
        .annotate(
            gold_label=F("example__gold__label_id"), author=Coalesce("example__gold__labeled_by_id", Value(0))
        )
        .order_by()
        .values_list("example_id", "rater_id", "label_id", "gold_label", "author")
    )
    matrix = _fetch_int_matrix(rows, n_columns=5)
    matrix = matrix[matrix[:, 1] != matrix[:, 4]]
    return GoldAnnotations(
        examples=matrix[:, 0].copy(),
        raters=matrix[:, 1].copy(),
        labels=code(matrix[:, 2]),
        gold_labels=code(matrix[:, 3]),
        label_ids=label_ids,
        label_names=label_names,
    )


def hlp_live(*, project: Project, slice_field: str = "", tags: bool = False) -> dict[str, Any]:
    """Human-level performance now (not a snapshot): overall, per rater, per gold label and per
    slice, each `{"value", "ci95", "n"}` with names. Shown beside agreement on the dashboard and
    added to the agreement JSON as `human_level_performance`."""
    gold = gold_annotations(project=project)
    rater_ids, rater_codes = np.unique(gold.raters, return_inverse=True)
    members = slice_members(project=project, slice_field=slice_field, tags=tags)
    summary = hlp.hlp_summary(
        raters=rater_codes,
        gold_labels=gold.gold_labels,
        examples=gold.examples,
        correct=gold.correct,
        n_raters=len(rater_ids),
        n_labels=len(gold.label_ids),
        member_examples=members.examples if members else None,
        member_slices=members.codes if members else None,
        n_slices=len(members.names) if members else 0,
    )
    names = usernames(user_ids=rater_ids)
    for row in summary["per_rater"]:
        row["rater"] = names.get(int(rater_ids[row["rater"]]), str(rater_ids[row["rater"]]))
    for row in summary["per_label"]:
        row["label"] = gold.label_names[row["label"]]
    for row in summary["per_slice"]:
        row["slice"] = members.names[row["slice"]]
    summary["n_gold_examples"] = int(len(np.unique(gold.examples)))
    summary["slice"] = "tag" if tags else (slice_field or None)
    return summary


def fetch_int_matrix(queryset, *, n_columns: int) -> np.ndarray:
    """An integer-only, non-null values_list query as an (n, n_columns) int64 array (COPY on
    PostgreSQL): for the other consistency apps that build arrays the same way."""
    return _fetch_int_matrix(queryset, n_columns=n_columns)
