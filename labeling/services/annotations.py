"""Writes for labeling: handing out examples under time-limited leases, submitting, skipping,
undoing and editing annotations.

Every check-then-write runs inside one transaction under the example's row lock and is backed
by a constraint (labeling.models): at most k active slots per example, one assignment and one
annotation per rater and example, one lease per rater and project. A request the state of things
refuses (a lease lost, a label already given, nothing to undo) is a Conflict: the API's 409.
"""

import json
import random
import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from core.errors import AccessDenied, ApplicationError, Conflict, NotFound
from core.rawsql import execute, insert_sql, model_from_row, values_from_rows
from labeling import hooks
from labeling.models import Annotation, Assignment, LabelingEvent
from labeling.selectors import (
    EXAMPLE_FIELDS,
    annotation_answer_text,
    annotation_get_for_rater,
    annotation_is_editable,
    annotation_last_undoable,
    example_candidates,
    guideline_stamp,
    honeypot_candidates,
    labels_for_labeling,
    leases_held,
)
from labeling.services.decisions import MAX_SLOTS, disagreement_detect, effective_k
from labeling.spans import SpanError, spans_clean
from projects.models import Example, Label, Membership, Project, Role, TaskType

# How many locked candidates to try per label count before giving up on that count: a
# candidate can turn out full under its lock when another rater took the last slot meanwhile.
CANDIDATE_ATTEMPTS = 5
MAX_TIME_SPENT_MS = 24 * 3600 * 1000
SKIP_NEEDS_REASON = "Say why you skip this example (for example: not in English)."
TOKEN_USED_MESSAGE = "This form was already used. Reload the page and try again."
# The most leases a rater can hold in a project (the queue_position check constraint).
MAX_QUEUE = 10
EXAMPLES = Example._meta.db_table
ASSIGNMENTS = Assignment._meta.db_table
ANNOTATIONS = Annotation._meta.db_table
EVENTS = LabelingEvent._meta.db_table
# What a submit reads of the example it locks.
LOCK_FIELDS = ("id", "project_id", "external_id", "annotation_count", "extra_raters")
ASSIGNMENT_FIELDS = ("id", "project_id", "example_id", "rater_id", "status", "slot")
LEASE_LOST_MESSAGE = (
    "Your time on this example ran out and other labelers completed it, so this label was not saved."
)


def _lease_end(project: Project, now: datetime) -> datetime:
    return now + timedelta(minutes=project.lease_minutes)


def _lock_example(project: Project, example_id: int, *, fields: tuple[str, ...] = ()) -> Example:
    examples = project.examples.select_for_update()
    if fields:
        examples = examples.only(*fields)
    try:
        return examples.get(pk=example_id)
    except (Example.DoesNotExist, ValueError, TypeError):
        raise NotFound("Example not found.") from None


class _Seats:
    """The assignments of one locked example, after its expired leases were released."""

    def __init__(self, example: Example, k: int, now: datetime):
        leased, released = Assignment.Status.LEASED, Assignment.Status.RELEASED
        fields = ("id", "rater_id", "status", "slot", "expires_at")
        with connection.cursor() as cursor:
            execute(
                cursor, f"SELECT {', '.join(fields)} FROM {ASSIGNMENTS} WHERE example_id = %s", [example.pk]
            )
            rows = values_from_rows(Assignment, fields, cursor.fetchall())
        expired = {pk for pk, _, status, _, expires in rows if status == leased and expires <= now}
        if expired:
            # Abandoned leases go back to the pool: their slots are freed.
            Assignment.objects.filter(pk__in=expired).update(status=released, updated_at=now)
            LabelingEvent.objects.bulk_create(
                LabelingEvent(
                    project_id=example.project_id,
                    example=example,
                    rater_id=rater_id,
                    kind=LabelingEvent.Kind.LEASE_EXPIRED,
                    at=now,
                    details={"expired_at": expires.isoformat()},
                )
                for pk, rater_id, _, _, expires in rows
                if pk in expired
            )
        statuses = {pk: released if pk in expired else status for pk, _, status, _, _ in rows}
        self.by_rater = {rater_id: (pk, statuses[pk]) for pk, rater_id, _, _, _ in rows}
        active = [(slot, statuses[pk]) for pk, _, _, slot, _ in rows if statuses[pk] in Assignment.ACTIVE]
        live_leases = sum(1 for _, status in active if status == leased)
        # When the live leases end: with a new lease, the seat hint the candidate walk reads.
        self.live_until = [expires for pk, _, _, _, expires in rows if statuses[pk] == leased]
        used = {slot for slot, _ in active}
        self.free_slot = None
        if example.annotation_count + live_leases < k:
            self.free_slot = next((slot for slot in range(1, k + 1) if slot not in used), None)


def _event(example: Example, rater: AbstractBaseUser, kind: str, at: datetime, **details) -> None:
    """One row of the example's append-only labeling history (labeling.models.LabelingEvent)."""
    LabelingEvent.objects.create(
        project_id=example.project_id, example=example, rater=rater, kind=kind, at=at, details=details
    )


def _annotation_values(project: Project, annotation: Annotation) -> dict:
    """What an annotation says, as kept in the history when it is edited or undone (a multi-label
    set as `labels`, its ids, spans as `spans`, and `label_name`, the answer in words: "billing +
    bug", `PER "Ada Lovelace"`)."""
    spans = annotation.spans
    return {
        "annotation": annotation.pk,
        "label": annotation.label_id,
        **({"labels": list(annotation.labels)} if annotation.labels is not None else {}),
        **({"spans": [list(span) for span in spans]} if spans is not None else {}),
        "label_name": annotation_answer_text(project=project, annotation=annotation),
        "ambiguous": annotation.ambiguous,
        "ambiguous_note": annotation.ambiguous_note,
        "note": annotation.note,
        "guideline_version": annotation.guideline_version.number if annotation.guideline_version else None,
        "labeled_at": annotation.created_at.isoformat(),
    }


def _label_get(project: Project, label_id) -> Label:
    for label in labels_for_labeling(project=project):
        if str(label.pk) == str(label_id).strip():
            return label
    raise ApplicationError(
        "Choose one of this project's labels.", extra={"label": ["Choose one of this project's labels."]}
    )


def _refuse(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, extra={field: [message]})


MULTI_NEEDS_SET = "This project is multi-label: give the set of labels that apply (labels), not one label."
SINGLE_NEEDS_LABEL = "This project takes one label per example (label), not a set of labels."
EMPTY_SET_REFUSED = 'Choose at least one label: this project does not allow "none of these".'
SPANS_NEEDED = 'This project labels spans of the text: give the spans (spans), [] for "no entities".'
SPANS_REFUSED = "This project labels the whole example, not spans of its text."


def label_set_clean(*, project: Project, label_ids) -> list[int]:
    """A multi-label answer checked against the project: every label one of its own, none twice,
    empty only when the project allows "none of these". Returned sorted (as stored)."""
    if isinstance(label_ids, str | bytes) or not hasattr(label_ids, "__iter__"):
        raise _refuse("labels", "Give the labels as a list.")
    project_labels = labels_for_labeling(project=project)
    known = {str(label.pk): label.pk for label in project_labels}
    chosen: list[int] = []
    for value in label_ids:
        pk = known.get(str(value).strip())
        if pk is None:
            raise _refuse("labels", f"{str(value)[:100]!r} is not one of this project's labels.")
        if pk in chosen:
            name = next(label.name for label in project_labels if label.pk == pk)
            raise _refuse("labels", f"A label is given twice ({name!r}); give each label once.")
        chosen.append(pk)
    if not chosen and not project.allow_empty_label_set:
        raise _refuse("labels", EMPTY_SET_REFUSED)
    return sorted(chosen)


def span_answer_clean(*, project: Project, text: str, spans) -> list[list[int]]:
    """A span answer checked against the example's text and the project's labels (by name, or
    by id) and nesting setting (labeling.spans.spans_clean); returned in stored form. A fault is
    refused under the field it names (``spans[2].end``)."""
    project_labels = labels_for_labeling(project=project)
    labels = {str(label.pk): label.pk for label in project_labels}
    labels.update({label.name: label.pk for label in project_labels})  # a name wins over a same-looking id
    try:
        return spans_clean(text, spans, labels=labels, may_nest=project.spans_may_nest)
    except SpanError as exc:
        raise _refuse(exc.field, exc.message) from None


def _example_text(project: Project, example_id) -> str:
    try:
        text = project.examples.filter(pk=example_id).values_list("text", flat=True).first()
    except (ValueError, TypeError):
        text = None
    if text is None:
        raise NotFound("Example not found.")
    return text


def _answer_get(
    project: Project, label_id, labels, spans, example_id
) -> tuple[Label | None, list[int] | None, list[list[int]] | None]:
    """The answer in the shape the project's task type asks for: (label, None, None) on a
    single-label project, (None, sorted label ids, None) on a multi-label one, (None, None, sorted
    spans) on a span one; the other shapes are refused by name."""
    if project.task_type == TaskType.SPANS:
        for field, value in (("label", label_id), ("labels", labels)):
            if value is not None:
                raise _refuse(field, SPANS_NEEDED)
        if spans is None:
            raise _refuse("spans", SPANS_NEEDED)
        text = _example_text(project, example_id)
        return None, None, span_answer_clean(project=project, text=text, spans=spans)
    if spans is not None:
        raise _refuse("spans", SPANS_REFUSED)
    if project.task_type == TaskType.MULTI:
        if labels is None:
            raise _refuse("labels" if label_id is None else "label", MULTI_NEEDS_SET)
        return None, label_set_clean(project=project, label_ids=labels), None
    if project.task_type != TaskType.SINGLE:
        raise ApplicationError("This project's task type cannot be labeled here yet.")
    if labels is not None:
        raise _refuse("labels", SINGLE_NEEDS_LABEL)
    if label_id is None:
        raise _refuse("label", "Choose one of this project's labels.")
    return _label_get(project, label_id), None, None


def _clean_text(value: str | None, *, limit: int, what: str) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise ApplicationError(f"The {what} is too long (at most {limit} characters).")
    return value


def assignment_next(*, project: Project, user: AbstractBaseUser) -> Assignment | None:
    """The example `user` should label now, held by a lease, or None when nothing is left for them:
    the first of lease_queue(size=1)."""
    queue = lease_queue(project=project, user=user, size=1)
    return queue[0] if queue else None


def lease_queue(
    *,
    project: Project,
    user: AbstractBaseUser,
    size: int | None = None,
    membership: Membership | None = None,
) -> list[Assignment]:
    """The examples `user` holds leases on, in the order to label them, topped up to `size`
    (default: the project's lease_queue_size); empty when nothing is left for them.

    A rater keeps the leases they hold (a reload burns nothing); new ones are taken in the order
    of the candidate walk: examples that already have labels first (most labels first, so
    examples finish and agreement data arrives early), then the rest in id order. A rater never
    gets an example they labeled or skipped, and no example gets more than k raters.
    `membership`: the caller's, when the request already read it (saves reading it again).
    """
    size = project.lease_queue_size if size is None else size
    leases = leases_held(project=project, user=user)
    now = timezone.now()
    if len(leases) >= size and all(lease.expires_at > now for lease in leases):
        return leases  # the common case: one indexed read, no transaction
    if membership is not None and (membership.project_id, membership.user_id) == (project.pk, user.pk):
        is_labeler = membership.role == Role.LABELER
    else:
        is_labeler = project.memberships.filter(user=user, role=Role.LABELER).exists()
    if not is_labeler:
        raise AccessDenied("Only a labeler of this project can label examples.")
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _queue_fill(project, user, leases if attempt == 0 else None, size)
        except IntegrityError:
            # Lost a race against the same rater in another tab (one lease per queue position):
            # the leases the other request took are read again on the next pass.
            continue
    raise ApplicationError("Could not reserve an example just now; please try again.")


def _queue_fill(
    project: Project, user: AbstractBaseUser, leases: list[Assignment] | None, size: int
) -> list[Assignment]:
    now = timezone.now()
    # The transaction's settings (LEASE_SETTINGS), sent with its first statement that needs them.
    pending = [LEASE_SETTINGS] if connection.vendor == "postgresql" else []
    if leases is None:
        leases = leases_held(project=project, user=user)
    kept = [lease for lease in leases if lease.expires_at > now]
    for lease in leases:
        if lease.expires_at <= now:
            _settings_send(pending)
            renewed = _lease_renew(project, lease, now)
            if renewed is not None:
                kept.append(renewed)
    taken = {lease.queue_position for lease in kept}
    # Examples that were granted extra raters (adaptive overlap) can hold up to overlap + m labels.
    k = min(project.overlap + project.extra_raters_on_split, MAX_SLOTS)
    count = k - 1  # label counts above the last one found empty stay empty in this transaction
    while len(kept) < size:
        position = next(p for p in range(1, MAX_QUEUE + 1) if p not in taken)
        assignment = _honeypot_claim(project, user, now, position, pending)
        if assignment is None:
            assignment, count = _claim_next(project, user, now, position, count, pending)
        if assignment is None:
            break
        kept.append(assignment)
        taken.add(position)
    return sorted(kept, key=lambda lease: (lease.expires_at, lease.pk))


# The lease transaction on PostgreSQL. A lease is cheap to lose in a crash (the example just
# returns to the pool), so its commit does not wait for the WAL flush. The candidate walk stops at
# the first free example, but its estimated cost (a whole index range) would trigger JIT
# compilation, which costs more than the query itself, and keep PostgreSQL planning it afresh on
# every call instead of using the prepared statement's plan, which is the same index walk
# (tests/labeling/test_query_plan.py checks both). Sent ahead of the candidate walk in its round
# trip, or alone before a statement of another kind comes first.
LEASE_SETTINGS = (
    "SET LOCAL synchronous_commit = off; SET LOCAL jit = off; "
    "SET LOCAL plan_cache_mode = force_generic_plan; "
)


def _settings_send(pending: list[str]) -> None:
    """Send the transaction's settings now if they are still pending (see LEASE_SETTINGS)."""
    if pending:
        with connection.cursor() as cursor:
            cursor.execute(pending.pop())


def _lease_renew(project: Project, lease: Assignment, now: datetime) -> Assignment | None:
    """Under the example's lock: an expired lease whose slot is still reserved is renewed; one
    whose example meanwhile has all its labels is released (None)."""
    example = _lock_example(project, lease.example_id)
    lease = (
        Assignment.objects.select_for_update().filter(pk=lease.pk, status=Assignment.Status.LEASED).first()
    )
    if lease is None:
        return None
    # Still leased means nobody released it, so its slot is still reserved: renew it.
    if example.annotation_count < effective_k(project=project, example=example):
        lease.expires_at = _lease_end(project, now)
        lease.save(update_fields=["expires_at", "updated_at"])
        lease.example = example
        return lease
    lease.status = Assignment.Status.RELEASED
    lease.save(update_fields=["status", "updated_at"])
    return None


def _claim_next(
    project: Project,
    user: AbstractBaseUser,
    now: datetime,
    position: int,
    start_count: int,
    pending: list[str],
) -> tuple[Assignment | None, int]:
    """Walk the candidates from `start_count` labels down and lease the first free one (the
    transaction's `pending` settings go with the first step of the walk)."""
    for count in range(start_count, -1, -1):
        tried: list[int] = []
        for _ in range(CANDIDATE_ATTEMPTS):
            sql, params = example_candidates(
                project=project, user=user, annotation_count=count, now=now, exclude=tried
            )
            with connection.cursor() as cursor:
                execute(cursor, sql, params, before=pending.pop() if pending else "")
                row = cursor.fetchone()
            if row is None:
                break
            example = model_from_row(Example, EXAMPLE_FIELDS, row)
            assignment = _claim(project, example, user, now, position)
            if assignment is not None:
                return assignment, count
            tried.append(example.pk)
    return None, -1


_honeypot_draw = random.Random()  # noqa: S311 (a sampling rate, not a secret); tests replace it


def _honeypot_claim(
    project: Project, user: AbstractBaseUser, now: datetime, position: int, pending: list[str]
) -> Assignment | None:
    """At the project's honeypot rate, a gold example with a free seat instead of the usual choice.

    Nothing marks it: the rater gets the same lease, page and API shape as for any example, so
    their accuracy on gold (human-level performance) is measured without their knowing. No query
    runs unless the draw falls below the rate.
    """
    if project.honeypot_rate <= 0 or _honeypot_draw.random() >= project.honeypot_rate:
        return None
    _settings_send(pending)
    candidates = honeypot_candidates(project=project, user=user, now=now)
    for example in candidates.select_for_update(skip_locked=True, of=("self",))[:CANDIDATE_ATTEMPTS]:
        assignment = _claim(project, example, user, now, position)
        if assignment is not None:
            return assignment
    return None


def _claim(
    project: Project, example: Example, user: AbstractBaseUser, now: datetime, position: int = 1
) -> Assignment | None:
    """Under the example's lock: take a free slot for `user`, or None if the example is full.

    The candidate query already excluded examples this rater labeled (also by import); the
    unique (example, rater) constraint on annotations backs that up at submit time.
    """
    seats = _Seats(example, effective_k(project=project, example=example), now)
    mine = seats.by_rater.get(user.pk)
    if (mine is not None and mine[1] != Assignment.Status.RELEASED) or seats.free_slot is None:
        return None
    expires_at = _lease_end(project, now)
    hint = [len(seats.live_until) + 1, min([*seats.live_until, expires_at]), example.pk]
    if mine is None:
        return _lease_insert(project, example, user, now, seats.free_slot, expires_at, position, hint)
    _event(example, user, LabelingEvent.Kind.LEASED, now, expires_at=expires_at.isoformat())
    _seat_hint_write(hint)
    # The rater abandoned this example earlier and nobody filled it: give it back.
    assignment = Assignment.objects.select_related("example").get(pk=mine[0])
    assignment.status = Assignment.Status.LEASED
    assignment.slot = seats.free_slot
    assignment.expires_at = expires_at
    assignment.queue_position = position
    assignment.skip_reason = ""
    assignment.save(
        update_fields=["status", "slot", "expires_at", "queue_position", "skip_reason", "updated_at"]
    )
    return assignment


EVENT_COLUMNS = ("project_id", "example_id", "rater_id", "kind", "at", "details")
LEASE_COLUMNS = (
    "created_at", "updated_at", "project_id", "example_id", "rater_id", "status", "slot", "expires_at",
    "skip_reason", "queue_position",
)  # fmt: skip


SEAT_HINT_SQL = f"UPDATE {EXAMPLES} SET seats_leased = %s, seats_leased_until = %s WHERE id = %s"
# Freeing a seat: the hint may only count too few afterwards (projects.models.Example).
SEAT_FREED_SQL = "seats_leased = CASE WHEN seats_leased > 0 THEN seats_leased - 1 ELSE 0 END"


def _seat_hint_write(hint: list) -> None:
    """Under the example's lock, after a lease: [seats leased, first of their ends, example id]."""
    with connection.cursor() as cursor:
        cursor.execute(SEAT_HINT_SQL, _seat_hint_params(hint))


def _seat_hint_params(hint: list) -> list:
    seats, until, example_id = hint
    return [seats, connection.ops.adapt_datetimefield_value(until), example_id]


def _lease_insert(
    project: Project,
    example: Example,
    user: AbstractBaseUser,
    now: datetime,
    slot: int,
    expires_at,
    position: int,
    hint: list,
) -> Assignment:
    """A new lease, its "leased" history row and the example's seat hint (`hint`, as
    _seat_hint_write takes it): one statement on PostgreSQL, three elsewhere."""
    at, until = (connection.ops.adapt_datetimefield_value(value) for value in (now, expires_at))
    details = json.dumps({"expires_at": expires_at.isoformat()})
    event = [project.pk, example.pk, user.pk, LabelingEvent.Kind.LEASED, at, details]
    lease = [at, at, project.pk, example.pk, user.pk, Assignment.Status.LEASED, slot, until, "", position]
    insert = insert_sql(ASSIGNMENTS, LEASE_COLUMNS, returning="id")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            execute(
                cursor,
                f"WITH event AS ({insert_sql(EVENTS, EVENT_COLUMNS)}), hint AS ({SEAT_HINT_SQL}) {insert}",
                event + _seat_hint_params(hint) + lease,
            )
        else:
            cursor.execute(insert_sql(EVENTS, EVENT_COLUMNS), event)
            cursor.execute(SEAT_HINT_SQL, _seat_hint_params(hint))
            cursor.execute(insert, lease)
        pk = cursor.fetchone()[0]
    assignment = Assignment(
        id=pk,
        created_at=now,
        updated_at=now,
        project=project,
        example=example,
        rater=user,
        slot=slot,
        expires_at=expires_at,
        queue_position=position,
    )
    assignment._state.adding = False
    return assignment


def annotation_submit(
    *,
    project: Project,
    user: AbstractBaseUser,
    example_id: int,
    label_id: int | None = None,
    labels: list | None = None,
    spans: list | None = None,
    client_token: uuid.UUID | None,
    ambiguous: bool = False,
    ambiguous_note: str = "",
    note: str = "",
    time_spent_ms: int | None = None,
) -> Annotation:
    """Record `user`'s label for an example they hold a lease on; idempotent per client token.

    A second submit with the same token (double click, retry after a lost response) returns the
    annotation of the first, with `replay` set to True (False on the first). A lease that expired
    is still honoured while its slot is free (the label is not thrown away when nobody needed the
    seat); once other raters have filled the example, the submit is refused with
    LEASE_LOST_MESSAGE. `decided_by_sme` on the result tells whether an SME had already decided
    the example (its label can then not be undone).

    The answer's shape follows the project's task type: `label_id` on a single-label project,
    `labels` (label ids, stored sorted; [] for "none of these" where allowed) on a multi-label one,
    `spans` (``{"start", "end", "label"}`` in code point offsets, labels by name or id; [] for "no
    entities") on a span one, checked against the example's text.
    """
    label, label_set, span_list = _answer_get(project, label_id, labels, spans, example_id)
    ambiguous_note = _clean_text(ambiguous_note, limit=1000, what="ambiguity note") if ambiguous else ""
    note = _clean_text(note, limit=2000, what="note")
    if time_spent_ms is not None:
        time_spent_ms = min(max(int(time_spent_ms), 0), MAX_TIME_SPENT_MS)
    guideline = guideline_stamp(project=project)
    try:
        with transaction.atomic():
            # The lock is all the transaction reads of the example: no text, data or metadata.
            example, assignment = _lock_for_submit(project, example_id, user)
            if client_token is not None and assignment.status == Assignment.Status.SUBMITTED:
                # Only a submitted assignment can have an annotation under this token.
                replay = _annotation_for_token(client_token, user, example)
                if replay is not None:
                    return replay
            _check_submittable(project, example, assignment)
            annotation = Annotation(
                example=example,
                rater=user,
                label=label,
                labels=label_set,
                spans=span_list,
                guideline_version=guideline,
                ambiguous=bool(ambiguous),
                ambiguous_note=ambiguous_note,
                note=note,
                time_spent_ms=time_spent_ms,
                client_token=client_token,
                source=Annotation.Source.LABELING,
            )
            _submit_write(annotation, assignment)
            example.annotation_count += 1
            # Under the example's lock: the rules see every current annotation, this one included.
            outcome = disagreement_detect(project=project, example=example)
            hooks.annotations_changed.fire(project_id=project.pk, source="labeling")
            annotation.replay = False
            annotation.decided_by_sme = outcome is None
            return annotation
    except IntegrityError:
        # The token was used on another example (the unique token refused the insert), or a
        # check was bypassed.
        if client_token is not None:
            replay = _annotation_for_token(client_token, user, Example(pk=example_id))
            if replay is not None:
                return replay
        raise ApplicationError("This label could not be saved. Reload the page and try again.") from None


ANNOTATION_COLUMNS = (
    "created_at", "updated_at", "example_id", "rater_id", "label_id", "labels", "spans",
    "guideline_version_id", "ambiguous", "ambiguous_note", "note", "time_spent_ms", "client_token", "source",
)  # fmt: skip


def _for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _lock_for_submit(project: Project, example_id, user: AbstractBaseUser) -> tuple[Example, Assignment]:
    """One statement: the example's row lock and the rater's assignment on it (locked too), with
    only what a submit reads of them. NotFound when the project has no such example or the rater
    no assignment on it."""
    try:
        example_id = int(example_id)
    except (ValueError, TypeError):
        raise NotFound("Example not found.") from None
    with connection.cursor() as cursor:
        execute(
            cursor,
            "SELECT e.external_id, e.annotation_count, e.extra_raters, a.id, a.status, a.slot "
            f"FROM {EXAMPLES} AS e JOIN {ASSIGNMENTS} AS a ON a.example_id = e.id AND a.rater_id = %s "
            f"WHERE e.id = %s AND e.project_id = %s{_for_update()}",
            [user.pk, example_id, project.pk],
        )
        row = cursor.fetchone()
    if row is None:
        _lock_example(project, example_id, fields=("id",))  # NotFound if the example is not there
        raise NotFound("This example is not assigned to you.")
    external_id, count, extra, assignment_id, status, slot = row
    # As the ORM loads them: any other field (the text, say) is read when asked for.
    example = Example.from_db(connection.alias, LOCK_FIELDS, (example_id, project.pk, *row[:3]))
    assignment = Assignment.from_db(
        connection.alias, ASSIGNMENT_FIELDS, (assignment_id, project.pk, example_id, user.pk, status, slot)
    )
    return example, assignment


def _submit_write(annotation: Annotation, assignment: Assignment) -> None:
    """Insert the annotation, mark the assignment submitted (in the slot _check_submittable chose)
    and count the label on the example: one statement on PostgreSQL, three elsewhere."""
    now = timezone.now()
    annotation.created_at = annotation.updated_at = now
    fields = [Annotation._meta.get_field(name) for name in ANNOTATION_COLUMNS]
    values = [field.get_db_prep_save(getattr(annotation, field.attname), connection) for field in fields]
    at = connection.ops.adapt_datetimefield_value(now)
    insert = insert_sql(ANNOTATIONS, ANNOTATION_COLUMNS, returning="id")
    submitted = f"UPDATE {ASSIGNMENTS} SET status = %s, slot = %s, updated_at = %s WHERE id = %s"
    counted = f"UPDATE {EXAMPLES} SET annotation_count = annotation_count + 1, {SEAT_FREED_SQL} WHERE id = %s"
    marks = [Assignment.Status.SUBMITTED, assignment.slot, at, assignment.pk]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            execute(
                cursor,
                f"WITH submitted AS ({submitted}), counted AS ({counted}) {insert}",
                [*marks, annotation.example_id, *values],
            )
        else:
            cursor.execute(submitted, marks)
            cursor.execute(counted, [annotation.example_id])
            cursor.execute(insert, values)
        annotation.pk = cursor.fetchone()[0]
    annotation._state.adding = False
    assignment.status = Assignment.Status.SUBMITTED


def _annotation_for_token(
    client_token: uuid.UUID, user: AbstractBaseUser, example: Example
) -> Annotation | None:
    existing = (
        Annotation.objects.select_related("label", "guideline_version")
        .filter(client_token=client_token)
        .first()
    )
    if existing is None:
        return None
    if existing.rater_id != user.pk or existing.example_id != example.pk:
        raise Conflict(TOKEN_USED_MESSAGE)
    existing.replay = True
    existing.rater = user
    existing.decided_by_sme = None  # unknown: callers ask annotation_is_editable
    return existing


def _check_submittable(project: Project, example: Example, assignment: Assignment) -> None:
    """Under the example's lock: refuse labels the rater may not (or no longer) give."""
    status = assignment.status
    if status == Assignment.Status.SUBMITTED:
        raise Conflict("You have already labeled this example.")
    if status == Assignment.Status.SKIPPED:
        raise Conflict("You skipped this example, so it can no longer be labeled by you.")
    if status == Assignment.Status.LEASED:
        # Live, or expired with its slot still reserved: nobody can have taken the seat.
        if example.annotation_count >= effective_k(project=project, example=example):
            raise Conflict(LEASE_LOST_MESSAGE)
        return
    # Released: the lease expired and someone freed its slot; accept only if a seat is free.
    slot = _Seats(example, effective_k(project=project, example=example), timezone.now()).free_slot
    if slot is None:
        raise Conflict(LEASE_LOST_MESSAGE)
    assignment.slot = slot


def assignment_skip(
    *, project: Project, user: AbstractBaseUser, example_id: int, reason: str = ""
) -> Assignment:
    """Give an example back: its slot is freed and the rater never gets it again. The reason is
    required: it is what tells a manager which examples cannot be labeled, and why."""
    reason = _clean_text(reason, limit=500, what="reason")
    if not reason:
        raise ApplicationError(SKIP_NEEDS_REASON)
    with transaction.atomic():
        example = _lock_example(project, example_id)
        assignment = Assignment.objects.select_for_update().filter(example=example, rater=user).first()
        if assignment is None:
            raise NotFound("This example is not assigned to you.")
        if assignment.status == Assignment.Status.SKIPPED:
            return assignment
        if assignment.status == Assignment.Status.SUBMITTED:
            raise Conflict("You have already labeled this example; undo the label to skip it.")
        assignment_was_leased = assignment.status == Assignment.Status.LEASED
        assignment.status = Assignment.Status.SKIPPED
        assignment.skip_reason = reason
        assignment.save(update_fields=["status", "skip_reason", "updated_at"])
        if assignment_was_leased:
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {EXAMPLES} SET {SEAT_FREED_SQL} WHERE id = %s", [example.pk])
        _event(example, user, LabelingEvent.Kind.SKIPPED, timezone.now(), reason=reason)
        return assignment


def _seats_freed_unlocked(example_ids: list[int]) -> None:
    """Lower the seat hints of examples whose leases were released without holding their locks.
    Examples another transaction holds are left as they are (waiting for them could deadlock with
    a claim that frees this rater's expired lease there): their hint then hides them at most until
    its time passes."""
    if not example_ids:
        return
    free = Example.objects.filter(pk__in=example_ids).select_for_update(skip_locked=True).values("pk")
    Example.objects.filter(pk__in=free, seats_leased__gt=0).update(seats_leased=F("seats_leased") - 1)


def annotation_undo(*, project: Project, user: AbstractBaseUser) -> Assignment:
    """Delete the rater's most recent annotation (while editable) and hand its example back to them
    as the first of their leases; leases they held on other examples are released (the queue
    fills up again on the next request)."""
    last = annotation_last_undoable(project=project, user=user)
    if last is None:
        raise Conflict("There is no label to undo.")
    with transaction.atomic():
        example = _lock_example(project, last.example_id)
        annotation = (
            Annotation.objects.select_for_update(of=("self",))
            .select_related("label", "guideline_version")
            .filter(pk=last.pk, rater=user)
            .first()
        )
        if annotation is None or not annotation_is_editable(annotation):
            raise Conflict("That label can no longer be undone.")
        now = timezone.now()
        # The label goes from the current rows; the history keeps what it was.
        _event(example, user, LabelingEvent.Kind.UNDONE, now, **_annotation_values(project, annotation))
        others = Assignment.objects.filter(project=project, rater=user, status=Assignment.Status.LEASED)
        others = others.exclude(example=example)
        freed = list(others.values_list("example_id", flat=True))
        others.update(status=Assignment.Status.RELEASED, updated_at=now)
        _seats_freed_unlocked(freed)
        annotation.delete()
        Example.objects.filter(pk=example.pk).update(
            annotation_count=Greatest(F("annotation_count") - 1, Value(0))
        )
        example.refresh_from_db(fields=["annotation_count"])
        assignment = Assignment.objects.select_for_update().filter(example=example, rater=user).first()
        if assignment is not None and assignment.status == Assignment.Status.SUBMITTED:
            assignment.status = Assignment.Status.LEASED  # keeps its slot: both states are active
            assignment.queue_position = 1  # the rater's other leases were released above
        else:
            slot = _Seats(example, effective_k(project=project, example=example), now).free_slot
            if slot is None:
                raise Conflict("That label can no longer be undone.")
            if assignment is None:
                assignment = Assignment(project=project, example=example, rater=user, slot=slot)
            assignment.status = Assignment.Status.LEASED
            assignment.slot = slot
            assignment.queue_position = 1
        assignment.expires_at = _lease_end(project, now)
        assignment.save()
        disagreement_detect(project=project, example=example)
        return assignment


def annotation_update(
    *,
    project: Project,
    user: AbstractBaseUser,
    annotation_id: int,
    label_id: int | None = None,
    labels: list | None = None,
    spans: list | None = None,
    ambiguous: bool = False,
    ambiguous_note: str = "",
    note: str = "",
) -> Annotation:
    """Change one of the rater's own annotations while it is editable. The annotation is
    re-stamped with the guideline in force, since the label is decided again under it. The
    answer's shape follows the task type, as in annotation_submit."""
    found = annotation_get_for_rater(project=project, user=user, annotation_id=annotation_id)
    label, label_set, span_list = _answer_get(project, label_id, labels, spans, found.example_id)
    ambiguous_note = _clean_text(ambiguous_note, limit=1000, what="ambiguity note") if ambiguous else ""
    note = _clean_text(note, limit=2000, what="note")
    with transaction.atomic():
        example = _lock_example(project, found.example_id)
        annotation = (
            Annotation.objects.select_for_update(of=("self",))
            .select_related("label", "guideline_version")
            .filter(pk=found.pk, rater=user)
            .first()
        )
        if annotation is None:
            raise NotFound("Annotation not found.")
        if not annotation_is_editable(annotation):
            raise ApplicationError("This label has been adjudicated and can no longer be changed.")
        before = _annotation_values(project, annotation)
        annotation.label = label
        annotation.labels = label_set
        annotation.spans = span_list
        annotation.ambiguous = bool(ambiguous)
        annotation.ambiguous_note = ambiguous_note
        annotation.note = note
        annotation.guideline_version = guideline_stamp(project=project)
        annotation.save(
            update_fields=[
                "label", "labels", "spans", "ambiguous", "ambiguous_note", "note", "guideline_version",
                "updated_at",
            ]
        )  # fmt: skip
        # The row now holds the new values; the history keeps the earlier ones (and the new).
        after = _annotation_values(project, annotation)
        _event(
            example,
            user,
            LabelingEvent.Kind.EDITED,
            annotation.updated_at,
            **before,
            to={
                k: after[k]
                for k in (
                    "label",
                    "labels",
                    "spans",
                    "label_name",
                    "ambiguous",
                    "ambiguous_note",
                    "note",
                    "guideline_version",
                )
                if k in after
            },
        )
        disagreement_detect(project=project, example=example)
        return annotation
