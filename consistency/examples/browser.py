"""The example browser's one query: a project's examples filtered, searched and sorted from
request parameters that are all checked against allow-lists first (no request string reaches an
ORM lookup name), then cut into pages without counting every match.

Text search finds an example by its exact id, or by its text: PostgreSQL full-text search
(`plainto_tsquery('simple', ...)`: every character is a literal, no operators) on the GIN index
of the stored column `search_vector` = `to_tsvector('simple', text)`; on SQLite a plain
case-insensitive substring match (Django escapes % and _). Each filter has an index behind it
(projects migration 0007, labeling migration 0005); `bench/bench_example_browser.py` prints the
plans. Matches are counted up to COUNT_CAP only.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from core.errors import ApplicationError
from labeling.models import Annotation, ConsensusLabel, Disagreement
from labeling.selectors import NONE_OF_THESE
from projects.models import Example, ExampleTag, Project

PAGE_SIZE = 50
COUNT_CAP = 1_000
MAX_QUERY_CHARS = 200
STATUSES = {
    "waiting": "Waiting: no label yet",
    "labeling": "Labeling: some labels, not decided",
    "decided": "Decided by the rules (unanimous or accepted majority)",
    "queued": "Queued for an SME",
    "resolved": "Resolved by an SME (gold)",
    "excluded": "Excluded as genuinely ambiguous",
}
SORTS = {
    "id": ("pk",),
    "-id": ("-pk",),
    "external_id": ("external_id", "pk"),
    "-external_id": ("-external_id", "-pk"),
    "agreement": ("consensus__agreement", "pk"),
    "-agreement": ("-consensus__agreement", "-pk"),
    "labels": ("annotation_count", "pk"),
    "-labels": ("-annotation_count", "-pk"),
}
FIELD_RE = re.compile(r"^[\w.-]{1,100}$")
WORD_RE = re.compile(r"[^\W_]")  # a letter or digit: something full-text search indexes
PUNCTUATION_RE = re.compile(r"[^\w\s]|_")


@dataclass
class BrowserFilters:
    q: str = ""
    label: int | None = None
    status: str = ""
    agreement_min: float | None = None
    agreement_max: float | None = None
    rater: int | None = None
    guideline: int | None = None
    guideline_version_id: int | None = None
    field: str = ""
    value: str = ""
    tag: str = ""
    release: str = ""
    sort: str = "id"
    errors: dict[str, str] = dataclasses.field(default_factory=dict)

    def query_items(self) -> list[tuple[str, str]]:
        """The filters as address parameters, for page links and the export link."""
        items = []
        for name in ("q", "label", "status", "agreement_min", "agreement_max", "rater", "guideline", "field",
                     "value", "tag", "release", "sort"):  # fmt: skip
            value = getattr(self, name)
            if value not in (None, "") and not (name == "sort" and value == "id"):
                items.append((name, str(value)))
        return items


def _number(raw: str, *, name: str, errors: dict, kind=int, low=None, high=None):
    if raw in (None, ""):
        return None
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        errors[name] = f"{name.replace('_', ' ')}: '{str(raw)[:20]}' is not a number."
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        errors[name] = f"{name.replace('_', ' ')}: {value} is outside {low} to {high}."
        return None
    return value


def browser_filters_clean(*, project: Project, params) -> BrowserFilters:
    """Read the browser's parameters. Unknown or malformed values are dropped and named in
    `errors` (the page says which field and why, with a 400), never passed on."""
    errors: dict[str, str] = {}
    f = BrowserFilters(errors=errors)
    f.q = (params.get("q") or "").strip()
    if len(f.q) > MAX_QUERY_CHARS:
        errors["q"] = f"search: at most {MAX_QUERY_CHARS} characters."
        f.q = f.q[:MAX_QUERY_CHARS]
    label = _number(params.get("label"), name="label", errors=errors)
    if label is not None:
        if project.labels.filter(pk=label).exists():
            f.label = label
        else:
            errors["label"] = "label: choose one of this project's labels."
    status = params.get("status") or ""
    if status and status not in STATUSES:
        errors["status"] = f"status: choose one of {', '.join(STATUSES)}."
    else:
        f.status = status
    f.agreement_min = _number(
        params.get("agreement_min"), name="agreement_min", errors=errors, kind=float, low=0, high=1
    )
    f.agreement_max = _number(
        params.get("agreement_max"), name="agreement_max", errors=errors, kind=float, low=0, high=1
    )
    rater = (params.get("rater") or "").strip()
    if rater:
        member = project.memberships.filter(user__username=rater).values_list("user_id", flat=True).first()
        if member is None:
            errors["rater"] = f"rater: '{rater[:40]}' is not a member of this project."
        else:
            f.rater = member
    guideline = _number(params.get("guideline"), name="guideline", errors=errors, low=1)
    if guideline is not None:
        version_id = project.guideline_versions.filter(number=guideline).values_list("pk", flat=True).first()
        if version_id is not None:
            f.guideline, f.guideline_version_id = guideline, version_id
        else:
            errors["guideline"] = f"guideline: there is no version {guideline}."
    meta_field, value = (params.get("field") or "").strip(), (params.get("value") or "").strip()
    if meta_field or value:
        if not FIELD_RE.match(meta_field):
            errors["field"] = "metadata field: give the field's name (letters, digits, _ . -) and a value."
        else:
            f.field, f.value = meta_field, value[:200]
    tag = (params.get("tag") or "").strip().lower()
    if tag:
        f.tag = tag[:50]
    release = (params.get("release") or "").strip()
    if release:
        if DatasetRelease.objects.filter(
            project=project, tag=release, status=DatasetRelease.Status.READY
        ).exists():
            f.release = release
        else:
            errors["release"] = f"release: there is no ready release '{release[:40]}'."
    sort = params.get("sort") or "id"
    if sort not in SORTS:
        errors["sort"] = f"sort: choose one of {', '.join(SORTS)}."
    else:
        f.sort = sort
    return f


def _search(rows: QuerySet[Example], q: str) -> QuerySet[Example]:
    if connection.vendor == "postgresql":
        # search_vector: the stored to_tsvector('simple', text) with its GIN index (projects 0007).
        table = Example._meta.db_table
        sql = f"{table}.search_vector @@ plainto_tsquery('simple'::regconfig, %s)"
        words = RawSQL(sql, [q], output_field=BooleanField())  # noqa: S611  (q is a parameter)
        if not WORD_RE.search(q):
            # Only punctuation ("%", "*"): no word to look up; the characters themselves, literally.
            return rows.filter(Q(external_id=q) | Q(text__icontains=q))
        if PUNCTUATION_RE.search(q):
            # Words found through the index, and the characters around them exactly as typed.
            return rows.filter(Q(external_id=q) | (Q(words) & Q(text__icontains=q)))
        return rows.filter(Q(external_id=q) | Q(words))
    return rows.filter(Q(external_id=q) | Q(text__icontains=q))


def _metadata(rows: QuerySet[Example], name: str, value: str) -> QuerySet[Example]:
    if connection.vendor == "postgresql":
        # Containment uses the metadata's GIN index; a number typed as text matches it too.
        wanted = Q(metadata__contains={name: value})
        for kind in (int, float):
            try:
                wanted |= Q(metadata__contains={name: kind(value)})
            except ValueError:
                continue
        return rows.filter(wanted)
    # The key is one parameter of JSON_EXTRACT (never split on "__"); numbers compare as text.
    return rows.annotate(_meta_value=Cast(KeyTextTransform(name, "metadata"), TextField())).filter(
        _meta_value=value
    )


def examples_matching(*, project: Project, filters: BrowserFilters) -> QuerySet[Example]:
    """The project's examples matching `filters` (already cleaned), unsorted: what is counted."""
    f = filters
    open_review = Disagreement.objects.filter(example=OuterRef("pk"), status=Disagreement.Status.OPEN)
    rows = Example.objects.filter(project=project)
    if f.q:
        rows = _search(rows, f.q)
    if f.label is not None:
        rows = rows.filter(_final_label_is(project, f.label))
    if f.status == "waiting":
        rows = rows.filter(annotation_count=0, consensus__isnull=True)
    elif f.status == "labeling":
        rows = rows.filter(annotation_count__gt=0, consensus__isnull=True).exclude(Exists(open_review))
    elif f.status == "decided":
        rows = rows.filter(
            consensus__source__in=[ConsensusLabel.Source.UNANIMOUS, ConsensusLabel.Source.MAJORITY]
        )
    elif f.status == "queued":
        rows = rows.filter(Exists(open_review))
    elif f.status == "resolved":
        rows = rows.filter(consensus__source=ConsensusLabel.Source.GOLD)
    elif f.status == "excluded":
        rows = rows.filter(consensus__source=ConsensusLabel.Source.EXCLUDED)
    if f.agreement_min is not None:
        rows = rows.filter(consensus__agreement__gte=f.agreement_min)
    if f.agreement_max is not None:
        rows = rows.filter(consensus__agreement__lte=f.agreement_max)
    current = Annotation.objects.filter(example=OuterRef("pk"), superseded_at__isnull=True)
    if f.rater is not None:
        rows = rows.filter(Exists(current.filter(rater_id=f.rater)))
    if f.guideline is not None:
        rows = rows.filter(Exists(current.filter(guideline_version_id=f.guideline_version_id)))
    if f.field:
        rows = _metadata(rows, f.field, f.value)
    if f.tag:
        rows = rows.filter(
            Exists(ExampleTag.objects.filter(project=project, name=f.tag, example=OuterRef("pk")))
        )
    if f.release:
        items = DatasetReleaseItem.objects.filter(
            release__project=project, release__tag=f.release, example=OuterRef("pk")
        )
        rows = rows.filter(Exists(items))
    return rows


def _final_label_is(project: Project, label: int) -> Q:
    """Examples whose final answer is `label`, or (multi-label) whose final set holds it."""
    single = Q(consensus__label_id=label)
    if connection.features.supports_json_field_contains:
        return single | Q(consensus__labels__contains=[label])
    # SQLite has no JSON containment: read the project's final sets (a development database).
    with_label = [
        example_id
        for example_id, chosen in ConsensusLabel.objects.filter(
            example__project=project, labels__isnull=False
        ).values_list("example_id", "labels")
        if label in chosen
    ]
    return single | Q(pk__in=with_label)


def answer_text(*, label_name: str | None, label_ids: list[int] | None, names: dict[int, str]) -> str:
    """A final answer or a rater's answer in words, as every page words it
    (labeling.selectors.answer_text): a label's name, or a set as "billing + bug" in the
    project's label order, "none of these" for the empty set; "" when there is none."""
    if label_name is not None:
        return label_name
    if label_ids is None:
        return ""
    chosen = set(label_ids)
    return " + ".join(name for pk, name in names.items() if pk in chosen) or NONE_OF_THESE


def label_names(*, project: Project) -> dict[int, str]:
    """The project's label names by id, in button order, to word label sets (one query)."""
    return dict(project.labels.order_by("position", "id").values_list("id", "name"))


def final_answer(example: Example, names: dict[int, str]) -> str:
    """The final label or label set of a row of `examples_browse` (its consensus loaded)."""
    consensus = getattr(example, "consensus", None)
    if consensus is None:
        return ""
    return answer_text(
        label_name=consensus.label.name if consensus.label_id else None,
        label_ids=consensus.labels,
        names=names,
    )


def examples_browse(*, project: Project, filters: BrowserFilters) -> QuerySet[Example]:
    """The project's examples matching `filters` (already cleaned), sorted, with what a row shows."""
    open_review = Disagreement.objects.filter(example=OuterRef("pk"), status=Disagreement.Status.OPEN)
    rows = examples_matching(project=project, filters=filters)
    return (
        rows.select_related("consensus__label")
        .annotate(in_review=Exists(open_review))
        .order_by(*SORTS[filters.sort])
    )


def example_status(example: Example) -> str:
    """One of STATUSES for a row of `examples_browse` (its consensus and `in_review` loaded)."""
    consensus = getattr(example, "consensus", None)
    if example.in_review:
        return "queued"
    if consensus is not None:
        return {"gold": "resolved", "excluded": "excluded"}.get(consensus.source, "decided")
    return "labeling" if example.annotation_count else "waiting"


@dataclass
class BrowserPage:
    rows: list
    number: int
    has_next: bool
    count: int  # capped at COUNT_CAP + 1: "more than 1,000"
    message: str = ""

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_CAP


def browser_page(
    *, rows: QuerySet[Example], matching: QuerySet[Example], raw_page: str | None
) -> BrowserPage:
    """One page of `rows` by offset, reading one row more than shown to know whether another page
    follows. Matches are counted only when the page does not tell: on the last page the count is
    known, otherwise `matching` (without what the rows show) is counted up to COUNT_CAP. A page
    past the end shows the last page with a sentence saying so; a word shows the first."""
    message = ""
    try:
        number = int(raw_page) if raw_page not in (None, "") else 1
    except (TypeError, ValueError):
        number, message = 1, f"'{str(raw_page)[:20]}' is not a page number; showing page 1."
    if number < 1:
        number, message = 1, "Pages start at 1; showing page 1."
    start = (number - 1) * PAGE_SIZE
    fetched = list(rows[start : start + PAGE_SIZE + 1])
    if not fetched and number > 1:
        exact = matching.order_by().count()
        last = max(1, -(-exact // PAGE_SIZE))
        pages = "There is only 1 page" if last == 1 else f"There are only {last:,} pages"
        message = f"{pages} of examples for this search; showing page {last}."
        number, start = last, (last - 1) * PAGE_SIZE
        fetched = list(rows[start : start + PAGE_SIZE + 1])
    has_next = len(fetched) > PAGE_SIZE
    if has_next:
        count = matching.order_by().values("pk")[: COUNT_CAP + 1].count()
        count = max(count, start + len(fetched)) if count <= COUNT_CAP else count
    else:
        count = start + len(fetched)
    return BrowserPage(
        rows=fetched[:PAGE_SIZE], number=number, has_next=has_next, count=count, message=message
    )


def example_ids_matching(*, project: Project, params) -> list[int]:
    """The ids of the examples the browser's filters (`params`, as in its address) select, for
    bulk tagging; ApplicationError naming the bad filter when a filter is invalid."""
    filters = browser_filters_clean(project=project, params=params)
    if filters.errors:
        field, message = next(iter(filters.errors.items()))
        raise ApplicationError(message, extra={field: [message]})
    return list(
        examples_matching(project=project, filters=filters).order_by("pk").values_list("pk", flat=True)
    )
