"""Reads for labeling: the candidate examples for a rater, their own work and progress, and the
project-wide progress managers see. Nothing here reveals how other raters labeled an example."""

import statistics
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.errors import NotFound
from core.rawsql import execute, models_from_row, select_columns
from labeling.models import Annotation, Assignment, ConsensusLabel, Disagreement
from projects.models import Example, GuidelineVersion, Label, Project, Role
from projects.selectors import guideline_in_force_memo, request_memo


def annotation_is_editable(annotation: Annotation) -> bool:
    """Whether the rater may still change or undo this annotation.

    Rule: annotations made in Concord stay editable until their example is adjudicated (an SME's
    resolution set its consensus to gold or excluded) or sent back for relabeling (superseded).
    Imported annotations are history, not the rater's live work, so they are never editable.
    """
    if annotation.source != Annotation.Source.LABELING or annotation.superseded_at is not None:
        return False
    return not ConsensusLabel.objects.filter(
        example_id=annotation.example_id,
        source__in=[ConsensusLabel.Source.GOLD, ConsensusLabel.Source.EXCLUDED],
    ).exists()


def annotations_editable(annotations: list[Annotation]) -> set[int]:
    """The ids of `annotations` that annotation_is_editable would allow, in one query (a page of
    the rater's work)."""
    decided = set(
        ConsensusLabel.objects.filter(
            example_id__in={a.example_id for a in annotations},
            source__in=[ConsensusLabel.Source.GOLD, ConsensusLabel.Source.EXCLUDED],
        ).values_list("example_id", flat=True)
    )
    return {
        a.pk
        for a in annotations
        if a.source == Annotation.Source.LABELING and a.superseded_at is None and a.example_id not in decided
    }


def leases_held(*, project: Project, user: AbstractBaseUser) -> list[Assignment]:
    """The rater's leases in this project (live or expired), in the order they are to be
    labeled: the oldest hand-out first. At most lease_queue_size of them (one per queue position)."""
    found = []
    with connection.cursor() as cursor:
        execute(
            cursor,
            f"SELECT {select_columns((Assignment, 'a'), (Example, 'e'))} "
            f"FROM {Assignment._meta.db_table} AS a "
            f"JOIN {Example._meta.db_table} AS e ON e.id = a.example_id "
            # By the (project, rater, status) index: the rater's leases are the entries it holds
            # under this status.
            f"WHERE a.project_id = %s AND a.rater_id = %s AND a.status = '{Assignment.Status.LEASED}' "
            "ORDER BY a.expires_at, a.id",
            [project.pk, user.pk],
        )
        for row in cursor.fetchall():
            lease, lease.example = models_from_row(row, Assignment, Example)
            found.append(lease)
    return found


def labels_for_labeling(*, project: Project) -> list[Label]:
    """The project's labels in button order, read once per request."""
    return request_memo(project, "labels", lambda: _labels_read(project))


def labels_keep(*, project: Project, labels: list[Label]) -> None:
    """Labels read with another statement (in LABEL_ORDER) kept as labels_for_labeling's for the
    request."""
    request_memo(project, "labels", lambda: labels)


LABEL_ORDER = "l.position, l.id"  # button order


def _labels_read(project: Project) -> list[Label]:
    with connection.cursor() as cursor:
        execute(
            cursor,
            f"SELECT {select_columns((Label, 'l'))} FROM {Label._meta.db_table} AS l "
            f"WHERE l.project_id = %s ORDER BY {LABEL_ORDER}",
            [project.pk],
        )
        return [models_from_row(row, Label)[0] for row in cursor.fetchall()]


NONE_OF_THESE = "none of these"


def label_set_names(*, project: Project, label_ids) -> list[str]:
    """The names of a label set (a multi-label answer), in the project's button order."""
    wanted = {int(pk) for pk in label_ids}
    return [label.name for label in labels_for_labeling(project=project) if label.pk in wanted]


NO_ENTITIES = "no entities"
SPANS_SHOWN = 10  # spans an answer's wording names before "and N more"


def spans_text(*, spans, text: str, names: dict[int, str]) -> str:
    """A span answer in words: `PER "Ada Lovelace", ORG "Acme"`, "no entities" for []. `names`
    maps label ids to names."""
    if not spans:
        return NO_ENTITIES
    words = []
    for start, end, label_id in spans[:SPANS_SHOWN]:
        quoted = " ".join(text[start:end].split())
        if len(quoted) > 60:
            quoted = quoted[:59] + "…"
        words.append(f'{names.get(int(label_id), "?")} "{quoted}"')
    more = len(spans) - SPANS_SHOWN
    return ", ".join(words) + (f" and {more} more" if more > 0 else "")


def answer_text(*, project: Project, label=None, labels=None, spans=None, text: str = "") -> str:
    """What an annotation or a decision says, in words: a label's name, a multi-label set as
    "billing + bug" ("none of these" for the empty set), or spans over `text` (the example's) as
    `PER "Ada Lovelace", ORG "Acme"` ("no entities" for none)."""
    if spans is not None:
        names = {item.pk: item.name for item in labels_for_labeling(project=project)}
        return spans_text(spans=spans, text=text, names=names)
    if labels is not None:
        return " + ".join(label_set_names(project=project, label_ids=labels)) or NONE_OF_THESE
    return label.name if label is not None else ""


def annotation_answer_text(*, project: Project, annotation) -> str:
    """answer_text for one annotation (its example's text is read only for spans)."""
    spans = annotation.spans
    return answer_text(
        project=project,
        label=annotation.label if annotation.label_id is not None else None,
        labels=annotation.labels,
        spans=spans,
        text=annotation.example.text if spans is not None else "",
    )


def guideline_stamp(*, project: Project) -> GuidelineVersion | None:
    """The guideline version in force, which new annotations are stamped with; read once per request."""
    return guideline_in_force_memo(project=project)


EXAMPLE_COLUMNS = tuple(field.column for field in Example._meta.concrete_fields)
EXAMPLE_FIELDS = tuple(field.attname for field in Example._meta.concrete_fields)


def example_candidates(
    *,
    project: Project,
    user: AbstractBaseUser,
    annotation_count: int,
    now: datetime,
    exclude: list[int] = (),
) -> tuple[str, list]:
    """The first example of `project` with exactly `annotation_count` labels that `user` may still
    be given (in id order: first in, first out), its row locked (skipping rows others hold), as
    SQL and parameters: one statement, the columns of EXAMPLE_FIELDS; `exclude`: ids to pass over.

    The (project, annotation_count, id) index drives the scan. An example whose seat hint says
    its seats are all leased is passed over on its own columns: with hundreds of labelers the
    head of each level is a run of such examples, which every walk crosses. The other filters are
    index probes per example: the rater's own assignment and annotation by their unique
    (example, rater) indexes; live leases (exact, where the hint passes) by the partial index on
    leased assignments. No query here counts annotations. Plain SQL: the ORM took longer to build
    it than PostgreSQL to run it.
    """
    # Scalar subqueries rather than NOT EXISTS: PostgreSQL keeps them as per-row probes of the
    # unique (example, rater) indexes instead of turning them into anti-joins that read every
    # assignment and annotation of a rater with a long history. "No row" is written as
    # COALESCE(id, 0) < 1 (ids start at 1), not IS NULL: the planner guesses that 0.5% of rows
    # pass IS NULL on a subquery and a third pass an inequality. With two IS NULLs it expected
    # no candidate at all among 10,000 unlabeled examples, so it probed every one and sorted
    # them (54 ms) instead of walking the index in id order and stopping at the first (0.1 ms).
    held = [Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED, Assignment.Status.LEASED]
    sql = (
        f"SELECT {', '.join(f'e.{column}' for column in EXAMPLE_COLUMNS)} FROM {Example._meta.db_table} AS e "
        "WHERE e.project_id = %s AND e.annotation_count = %s "
        "AND NOT (e.text = '' AND e.media_file = '') "  # imported without a text or media: nothing to label
        # The seat hint first (columns of the row, no probe): while the leases it counted last,
        # its seats are full if annotations plus leased seats reach k (projects.models.Example).
        "AND (e.seats_leased_until IS NULL OR e.seats_leased_until <= %s "
        "OR e.annotation_count + e.seats_leased < %s + e.extra_raters) "
        # The example's effective k is overlap + the extra raters granted on a split.
        f"AND (SELECT COUNT(*) FROM {Assignment._meta.db_table} AS live WHERE live.example_id = e.id "
        # The status written out, not a parameter: a prepared statement's generic plan can then
        # still use the partial index of live leases by example (assignment_live_idx).
        f"AND live.status = '{Assignment.Status.LEASED}' AND live.expires_at > %s) "
        "< %s + e.extra_raters - e.annotation_count "
        f"AND COALESCE((SELECT own.id FROM {Assignment._meta.db_table} AS own WHERE own.example_id = e.id "
        "AND own.rater_id = %s AND own.status IN (%s, %s, %s) LIMIT 1), 0) < 1 "
        f"AND COALESCE((SELECT mine.id FROM {Annotation._meta.db_table} AS mine WHERE mine.example_id = e.id "
        "AND mine.rater_id = %s AND mine.superseded_at IS NULL LIMIT 1), 0) < 1 "
    )
    at = connection.ops.adapt_datetimefield_value(now)
    params = [project.pk, annotation_count, at, project.overlap]
    params += [at, project.overlap, user.pk, *held, user.pk]
    if annotation_count >= project.overlap:
        # Only examples granted extra raters take labels past the overlap: walking the rest at
        # these counts would probe every complete example (example_split_count_idx instead).
        sql += "AND e.extra_raters > 0 "
    if exclude:
        sql += f"AND e.id NOT IN ({', '.join(['%s'] * len(exclude))}) "
        params += list(exclude)
    sql += "ORDER BY e.id LIMIT 1"
    if connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql(skip_locked=True, of=("e",))
    return sql, params


def honeypot_candidates(*, project: Project, user: AbstractBaseUser, now: datetime) -> QuerySet[Example]:
    """Gold examples (with a gold label) that still have a free seat and that `user` may be given:
    never one they labeled, skipped or hold, nor one whose gold label they wrote themselves. The
    fullest first, so gold examples finish. Rater-facing pages treat them as any other example."""
    live_leases = (
        Assignment.objects.filter(example=OuterRef("pk"), status=Assignment.Status.LEASED, expires_at__gt=now)
        .order_by()
        .values("example")
        .annotate(n=Count("*"))
        .values("n")
    )
    own = Assignment.objects.filter(example=OuterRef("pk"), rater=user)
    own_annotation = Annotation.objects.filter(example=OuterRef("pk"), rater=user, superseded_at__isnull=True)
    return (
        Example.objects.filter(project=project, gold__label__isnull=False)
        .exclude(text="")
        .exclude(gold__labeled_by=user)
        .alias(live=Coalesce(Subquery(live_leases, output_field=IntegerField()), Value(0)))
        .filter(live__lt=project.overlap + F("extra_raters") - F("annotation_count"))
        .filter(~Exists(own), ~Exists(own_annotation))
        .order_by("-annotation_count", "id")
    )


def labeler_progress(*, project: Project, user: AbstractBaseUser, nothing_left: bool = False) -> dict:
    """This rater's counts (today, overall) and how many examples of the project still need labels.

    With `nothing_left` (the rater was given no example), the remaining examples are counted
    fresh and explained (`waiting`), so the page never shows a stale count beside "nothing left".
    """
    mine = Annotation.objects.filter(rater=user, example__project=project)
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    counts = mine.aggregate(total=Count("id"), today=Count("id", filter=Q(created_at__gte=start_of_day)))
    progress = {"today": counts["today"], "total": counts["total"], "waiting": None}
    if nothing_left:
        progress["waiting"] = examples_waiting(project=project, user=user)
        progress["remaining_examples"] = progress["waiting"]["total"]
    else:
        progress["remaining_examples"] = examples_remaining(project)
    return progress


WAITING_REASONS = ("labeled", "skipped", "held", "other")


def examples_waiting(*, project: Project, user: AbstractBaseUser, now: datetime | None = None) -> dict:
    """The examples that still need labels, by why `user` is not given them: they labeled it
    (it waits for other raters), they skipped it, or other labelers hold every open seat under
    live leases ("other": the state changed between two reads). Counted fresh, in one query
    over the remaining examples; meant for a rater who has nothing left to label."""
    now = now or timezone.now()
    own_assignment = Assignment.objects.filter(example=OuterRef("pk"), rater=user)
    own_annotation = Annotation.objects.filter(example=OuterRef("pk"), rater=user, superseded_at__isnull=True)
    others_leases = (
        Assignment.objects.filter(example=OuterRef("pk"), status=Assignment.Status.LEASED, expires_at__gt=now)
        .exclude(rater=user)
        .order_by()
        .values("example")
        .annotate(n=Count("*"))
        .values("n")
    )
    seats_open = Value(project.overlap) + F("extra_raters") - F("annotation_count")
    reason = Case(
        When(
            Q(Exists(own_annotation)) | Q(Exists(own_assignment.filter(status=Assignment.Status.SUBMITTED))),
            then=Value("labeled"),
        ),
        When(Exists(own_assignment.filter(status=Assignment.Status.SKIPPED)), then=Value("skipped")),
        When(held__gte=seats_open, then=Value("held")),
        default=Value("other"),
        output_field=CharField(),
    )
    rows = (
        project.examples.filter(annotation_count__lt=F("extra_raters") + project.overlap)
        .alias(held=Coalesce(Subquery(others_leases, output_field=IntegerField()), Value(0)))
        .annotate(reason=reason)
        .order_by()
        .values("reason")
        .annotate(n=Count("pk"))
        .values_list("reason", "n")
    )
    waiting = dict.fromkeys(WAITING_REASONS, 0) | dict(rows)
    waiting["total"] = sum(waiting[key] for key in WAITING_REASONS)
    return waiting


REMAINING_CACHE_SECONDS = 15


def examples_remaining(project: Project) -> int:
    """How many examples of the project still need labels (k, or more after a split asked for extra
    raters). Counting them reads a range of the
    (project, annotation_count) index that grows with the project, so the figure is cached for
    a few seconds per process instead of being counted on every labeling request."""
    key = f"labeling:remaining:{project.pk}:{project.overlap}"
    remaining = cache.get(key)
    if remaining is None:
        # An example granted extra raters on a split needs overlap + extra_raters labels.
        remaining = (
            project.examples.filter(
                Q(annotation_count__lt=project.overlap)
                | Q(extra_raters__gt=0, annotation_count__lt=F("extra_raters") + project.overlap)
            )
            .exclude(text="", media_file="")  # never handed out (no text, no media)
            .count()
        )
        cache.set(key, remaining, REMAINING_CACHE_SECONDS)
    return remaining


def annotation_last_undoable(*, project: Project, user: AbstractBaseUser) -> Annotation | None:
    """The rater's most recent annotation in the project, if it can still be undone."""
    last = (
        Annotation.objects.select_related("label")
        .filter(
            rater=user,
            example__project=project,
            source=Annotation.Source.LABELING,
            superseded_at__isnull=True,
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if last is None or not annotation_is_editable(last):
        return None
    return last


def annotation_list_for_rater(*, project: Project, user: AbstractBaseUser) -> QuerySet[Annotation]:
    """The rater's own annotations in the project, newest first."""
    return (
        Annotation.objects.select_related("example", "label", "guideline_version")
        .filter(rater=user, example__project=project)
        .order_by("-created_at", "-id")
    )


def annotation_get_for_rater(*, project: Project, user: AbstractBaseUser, annotation_id: int) -> Annotation:
    """One of the rater's own annotations; anyone else's is NotFound, whoever asks."""
    try:
        return annotation_list_for_rater(project=project, user=user).get(pk=annotation_id)
    except Annotation.DoesNotExist:
        raise NotFound("Annotation not found.") from None


def _median(values: list[int]) -> float | None:
    return statistics.median(values) if values else None


def project_progress(*, project: Project) -> dict:
    """For managers: per labeler (done, skipped, median seconds per example) and how many
    examples have 0..k labels."""
    k = project.overlap
    raters = (
        project.memberships.filter(role=Role.LABELER)
        .select_related("user")
        .order_by("user__username")
        .values_list("user_id", "user__username")
    )
    done = dict(
        Annotation.objects.filter(example__project=project)
        .values("rater_id")
        .annotate(n=Count("id"))
        .values_list("rater_id", "n")
    )
    skipped = dict(
        Assignment.objects.filter(project=project, status=Assignment.Status.SKIPPED)
        .values("rater_id")
        .annotate(n=Count("id"))
        .values_list("rater_id", "n")
    )
    medians = _median_ms_by_rater(project)
    rows = []
    seen = set()
    for user_id, username in raters:
        seen.add(user_id)
        rows.append(
            _progress_row(username, done.get(user_id, 0), skipped.get(user_id, 0), medians.get(user_id))
        )
    # Former labelers (or imported raters) who have work in the project still count.
    if set(done) - seen:
        names = dict(get_user_model().objects.filter(pk__in=set(done) - seen).values_list("pk", "username"))
        for user_id, username in sorted(names.items(), key=lambda item: item[1]):
            rows.append(_progress_row(username, done[user_id], skipped.get(user_id, 0), medians.get(user_id)))

    by_count = dict(
        project.examples.order_by()
        .values("annotation_count")
        .annotate(n=Count("id"))
        .values_list("annotation_count", "n")
    )
    distribution = [{"labels": c, "examples": by_count.get(c, 0)} for c in range(k + 1)]
    distribution[k]["examples"] += sum(n for c, n in by_count.items() if c > k)
    total = sum(by_count.values())
    return {
        "labelers": rows,
        "distribution": distribution,
        "examples_total": total,
        "examples_complete": distribution[k]["examples"],
        "overlap": k,
    }


def _progress_row(username: str, done: int, skipped: int, median_ms: float | None) -> dict:
    return {
        "username": username,
        "done": done,
        "skipped": skipped,
        "median_seconds": None if median_ms is None else round(median_ms / 1000, 1),
    }


def _median_ms_by_rater(project: Project) -> dict[int, float]:
    timed = Annotation.objects.filter(example__project=project, time_spent_ms__isnull=False)
    if connection.vendor == "postgresql":
        sql, params = timed.values_list("rater_id", "time_spent_ms").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rater_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY time_spent_ms) "
                f"FROM ({sql}) AS timed GROUP BY rater_id",
                params,
            )
            return {rater_id: float(value) for rater_id, value in cursor.fetchall()}
    values: dict[int, list[int]] = {}
    for rater_id, ms in timed.values_list("rater_id", "time_spent_ms").iterator():
        values.setdefault(rater_id, []).append(ms)
    return {rater_id: _median(ms_list) for rater_id, ms_list in values.items()}


# --------------------------------------------------------------------------------------------------
# The new-guideline banner a labeler sees

# {project id: highest version number whose banner the user dismissed}, in the user's session.
BANNER_SESSION_KEY = "guideline_banner_dismissed"


def guideline_banner_version(
    *, project: Project, user: AbstractBaseUser, dismissed_number: int | None = None
) -> GuidelineVersion | None:
    """The version to announce to a labeler: the one in force, if it was published after their
    last annotation in the project and they have not dismissed it. None for someone who has not
    labeled yet (everything is new to them; the guideline panel shows the version in force)."""
    current = guideline_in_force_memo(project=project)
    if current is None or (dismissed_number is not None and current.number <= dismissed_number):
        return None
    last = (
        Annotation.objects.filter(rater=user, example__project=project)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is None or current.published_at <= last:
        return None
    return current


# --------------------------------------------------------------------------------------------------
# Where the project's examples stand with the decision rules


def decision_counts(*, project: Project) -> dict[str, int]:
    """Counts of the project's examples: all, annotated, per consensus source, queued (an open
    disagreement) and undecided (annotated, with neither a consensus nor an open disagreement)."""
    examples = project.examples.aggregate(
        examples=Count("pk"), annotated=Count("pk", filter=Q(annotation_count__gt=0))
    )
    sources = dict(
        ConsensusLabel.objects.filter(example__project=project)
        .order_by()
        .values_list("source")
        .annotate(n=Count("pk"))
        .values_list("source", "n")
    )
    queued = Disagreement.objects.filter(project=project, status=Disagreement.Status.OPEN).count()
    undecided = (
        project.examples.filter(annotation_count__gt=0, consensus__isnull=True)
        .exclude(disagreements__status=Disagreement.Status.OPEN)
        .count()
    )
    return {
        **examples,
        **{source: sources.get(source, 0) for source in ConsensusLabel.Source.values},
        "queued": queued,
        "undecided": undecided,
    }
