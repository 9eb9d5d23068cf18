"""Assignment and annotation services: k raters per example, leases, idempotent submits,
skip, undo, guideline stamping and the order examples are handed out in."""

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import AccessDenied, ApplicationError, NotFound
from labeling.models import Annotation, Assignment
from labeling.services import annotations as services
from projects.models import Example
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, leases_run_out

pytestmark = pytest.mark.django_db


def submit(project, user, assignment, *, label=None, token=None, **extra):
    label = label or project.labels.first()
    return services.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        label_id=label.pk,
        client_token=token or uuid.uuid4(),
        **extra,
    )


def label_all(project, users):
    """Every user labels until nothing is left for them; returns the annotations."""
    done = []
    for user in users:
        while (assignment := services.assignment_next(project=project, user=user)) is not None:
            done.append(submit(project, user, assignment))
    return done


def test_each_example_gets_exactly_k_raters_and_never_more(project, examples, make_labeler):
    users = [make_labeler(f"rater{n}") for n in range(5)]
    label_all(project, users)
    for example in Example.objects.filter(project=project):
        assert example.annotations.count() == project.overlap
        assert example.annotation_count == project.overlap
    # Two raters found nothing left, because every example already had k labels.
    assert Annotation.objects.filter(rater=users[3]).count() == 0
    assert services.assignment_next(project=project, user=users[4]) is None


def test_database_refuses_a_second_assignment_or_annotation_for_the_same_rater(project, examples, labeler):
    assignment = services.assignment_next(project=project, user=labeler)
    annotation = submit(project, labeler, assignment)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            project=project, example=assignment.example, rater=labeler, slot=3, expires_at=timezone.now()
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        AnnotationFactory(example=annotation.example, rater=labeler, label=annotation.label)


def test_database_refuses_two_active_assignments_in_the_same_slot(project, examples, make_labeler):
    first, second = make_labeler("first"), make_labeler("second")
    assignment = services.assignment_next(project=project, user=first)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            project=project,
            example=assignment.example,
            rater=second,
            slot=assignment.slot,
            expires_at=timezone.now() + timedelta(minutes=5),
        )


def test_a_rater_never_gets_the_same_example_twice(project, examples, labeler):
    seen = []
    while (assignment := services.assignment_next(project=project, user=labeler)) is not None:
        seen.append(assignment.example_id)
        submit(project, labeler, assignment)
    assert sorted(seen) == sorted(e.pk for e in examples)


def test_reloading_returns_the_same_lease(project, examples, labeler):
    first = services.assignment_next(project=project, user=labeler)
    again = services.assignment_next(project=project, user=labeler)
    assert again.pk == first.pk
    assert Assignment.objects.filter(rater=labeler).count() == 1


def test_only_labelers_are_handed_examples(project, examples, manager, sme):
    for user in (manager, sme):
        with pytest.raises(AccessDenied):
            services.assignment_next(project=project, user=user)


def test_an_abandoned_lease_returns_the_example_to_the_pool(project, make_labeler):
    project.overlap = 1
    project.save()
    example = ExampleFactory(project=project)
    first, second = make_labeler("first"), make_labeler("second")
    lease = services.assignment_next(project=project, user=first)
    assert services.assignment_next(project=project, user=second) is None  # held by first
    leases_run_out([lease.pk])

    taken = services.assignment_next(project=project, user=second)
    assert taken is not None
    assert taken.example_id == example.pk
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.RELEASED


def test_a_rater_gets_their_own_expired_lease_back_when_nobody_took_it(project, examples, labeler):
    lease = services.assignment_next(project=project, user=labeler)
    leases_run_out([lease.pk], ago=timedelta(minutes=1))
    again = services.assignment_next(project=project, user=labeler)
    assert again.pk == lease.pk
    assert again.expires_at > timezone.now()


def test_submit_is_idempotent_per_client_token(project, examples, labeler):
    assignment = services.assignment_next(project=project, user=labeler)
    token = uuid.uuid4()
    first = submit(project, labeler, assignment, token=token)
    second = submit(project, labeler, assignment, token=token)
    assert first.pk == second.pk
    assert Annotation.objects.filter(rater=labeler).count() == 1
    assert Example.objects.get(pk=assignment.example_id).annotation_count == 1


def test_a_second_submit_with_a_new_token_is_refused(project, examples, labeler):
    assignment = services.assignment_next(project=project, user=labeler)
    submit(project, labeler, assignment)
    with pytest.raises(ApplicationError, match="already labeled"):
        submit(project, labeler, assignment)


def test_submitting_an_example_that_is_not_yours_is_refused(project, examples, make_labeler):
    owner, intruder = make_labeler("owner"), make_labeler("intruder")
    assignment = services.assignment_next(project=project, user=owner)
    with pytest.raises(NotFound):
        submit(project, intruder, assignment)
    assert not Annotation.objects.exists()


def test_a_stale_lease_taken_by_others_is_refused_with_a_message(project, make_labeler):
    project.overlap = 1
    project.save()
    ExampleFactory(project=project)
    late, quick = make_labeler("late"), make_labeler("quick")
    lease = services.assignment_next(project=project, user=late)
    leases_run_out([lease.pk])
    submit(project, quick, services.assignment_next(project=project, user=quick))

    with pytest.raises(ApplicationError, match="ran out"):
        submit(project, late, lease)
    assert Annotation.objects.count() == 1


def test_an_expired_lease_is_still_accepted_while_its_slot_is_free(project, examples, make_labeler):
    late, other = make_labeler("late"), make_labeler("other")
    lease = services.assignment_next(project=project, user=late)
    leases_run_out([lease.pk])
    # Another rater's request frees the expired slot, but the example still has room.
    services.assignment_next(project=project, user=other)
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.RELEASED
    annotation = submit(project, late, lease)
    assert annotation.example_id == lease.example_id
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.SUBMITTED


def test_skip_frees_the_slot_and_the_example_never_comes_back(project, make_labeler):
    project.overlap = 1
    project.save()
    example = ExampleFactory(project=project)
    skipper, other = make_labeler("skipper"), make_labeler("other")
    lease = services.assignment_next(project=project, user=skipper)
    services.assignment_skip(project=project, user=skipper, example_id=example.pk, reason="Not English")
    lease.refresh_from_db()
    assert (lease.status, lease.skip_reason) == (Assignment.Status.SKIPPED, "Not English")
    assert services.assignment_next(project=project, user=skipper) is None
    assert services.assignment_next(project=project, user=other).example_id == example.pk
    with pytest.raises(ApplicationError, match="skipped"):
        submit(project, skipper, lease)


def test_the_seat_hint_counts_leased_seats_and_every_freed_seat_is_offered_again(project, make_labeler):
    """k = 1 and one example: while it is leased, its hint says full and nobody else gets it; a
    submit (the seat turns into a label), a skip and an undo that releases the lease each give it
    back at once, not when the hint's lease would have ended."""
    project.overlap = 1
    project.save()
    first, second = ExampleFactory(project=project), ExampleFactory(project=project)
    holder, other = make_labeler("holder"), make_labeler("other")

    lease = services.assignment_next(project=project, user=holder)
    example = Example.objects.get(pk=lease.example_id)
    assert (example.pk, example.seats_leased, example.seats_leased_until) == (first.pk, 1, lease.expires_at)
    assert services.assignment_next(project=project, user=other).example_id == second.pk

    services.assignment_skip(project=project, user=holder, example_id=first.pk, reason="Not English")
    assert Example.objects.get(pk=first.pk).seats_leased == 0
    assert services.assignment_next(project=project, user=make_labeler("after-skip")).example_id == first.pk

    # The undo of the holder's label on the second example releases their lease on a third.
    third = ExampleFactory(project=project)
    submit(project, other, Assignment.objects.get(rater=other))
    assert Example.objects.get(pk=second.pk).seats_leased == 0  # the submit freed the seat
    assert services.assignment_next(project=project, user=other).example_id == third.pk
    services.annotation_undo(project=project, user=other)
    assert Example.objects.get(pk=third.pk).seats_leased == 0
    assert services.assignment_next(project=project, user=make_labeler("after-undo")).example_id == third.pk


@pytest.mark.parametrize("reason", ["", "  \t "])
def test_a_skip_needs_a_reason(project, examples, labeler, reason):
    lease = services.assignment_next(project=project, user=labeler)
    with pytest.raises(ApplicationError, match="Say why you skip"):
        services.assignment_skip(project=project, user=labeler, example_id=lease.example_id, reason=reason)
    lease.refresh_from_db()
    assert (lease.status, lease.skip_reason) == (Assignment.Status.LEASED, "")


def test_undo_deletes_the_last_label_and_gives_the_example_back(project, examples, labeler):
    first = services.assignment_next(project=project, user=labeler)
    submit(project, labeler, first)
    second = services.assignment_next(project=project, user=labeler)
    submit(project, labeler, second)
    third = services.assignment_next(project=project, user=labeler)

    back = services.annotation_undo(project=project, user=labeler)
    assert back.example_id == second.example_id
    assert back.status == Assignment.Status.LEASED
    assert back.expires_at > timezone.now()
    assert not Annotation.objects.filter(example_id=second.example_id).exists()
    assert Example.objects.get(pk=second.example_id).annotation_count == 0
    # The lease on the third example was given up, and the undone example is the one served now.
    assert Assignment.objects.get(pk=third.pk).status == Assignment.Status.RELEASED
    assert services.assignment_next(project=project, user=labeler).pk == back.pk
    relabeled = submit(project, labeler, back)
    assert relabeled.example_id == second.example_id


def test_undo_with_nothing_to_undo_says_so(project, examples, labeler):
    with pytest.raises(ApplicationError, match="no label to undo"):
        services.annotation_undo(project=project, user=labeler)


def test_annotation_is_stamped_with_the_guideline_in_force(project, examples, labeler):
    assignment = services.assignment_next(project=project, user=labeler)
    assert submit(project, labeler, assignment).guideline_version is None
    GuidelineVersionFactory(project=project, number=1)
    latest = GuidelineVersionFactory(project=project, number=2)
    assignment = services.assignment_next(project=project, user=labeler)
    assert submit(project, labeler, assignment).guideline_version == latest


def test_submit_records_ambiguity_note_and_time(project, examples, labeler):
    assignment = services.assignment_next(project=project, user=labeler)
    annotation = submit(
        project,
        labeler,
        assignment,
        ambiguous=True,
        ambiguous_note="two intents",
        note="see #12",
        time_spent_ms=4200,
    )
    annotation.refresh_from_db()
    assert (annotation.ambiguous, annotation.ambiguous_note, annotation.note, annotation.time_spent_ms) == (
        True,
        "two intents",
        "see #12",
        4200,
    )


def test_partially_labeled_examples_come_first(project, make_labeler):
    fresh = [ExampleFactory(project=project) for _ in range(3)]
    started = ExampleFactory(project=project)
    almost = ExampleFactory(project=project)
    a, b, c = make_labeler("a"), make_labeler("b"), make_labeler("c")
    for example, raters in ((started, [a]), (almost, [a, b])):
        for rater in raters:
            Assignment.objects.create(
                project=project,
                example=example,
                rater=rater,
                slot=raters.index(rater) + 1,
                status="submitted",
            )
            AnnotationFactory(example=example, rater=rater, label=project.labels.first())
        Example.objects.filter(pk=example.pk).update(annotation_count=len(raters))

    assert services.assignment_next(project=project, user=c).example_id == almost.pk
    # `almost` now has 2 labels and 1 live lease: full for k=3, so the next raters go to `started`.
    d, e, f = make_labeler("d"), make_labeler("e"), make_labeler("f")
    assert services.assignment_next(project=project, user=d).example_id == started.pk
    assert services.assignment_next(project=project, user=e).example_id == started.pk
    # Then the untouched examples, oldest first.
    assert services.assignment_next(project=project, user=f).example_id == fresh[0].pk


def test_edit_changes_own_annotation_and_restamps_guideline(project, examples, labeler):
    annotation = submit(project, labeler, services.assignment_next(project=project, user=labeler))
    version = GuidelineVersionFactory(project=project, number=1)
    new_label = project.labels.last()
    services.annotation_update(
        project=project, user=labeler, annotation_id=annotation.pk, label_id=new_label.pk, note="changed"
    )
    annotation.refresh_from_db()
    assert (annotation.label, annotation.note, annotation.guideline_version) == (
        new_label,
        "changed",
        version,
    )


def test_editing_someone_elses_annotation_is_not_found(project, examples, make_labeler):
    owner, intruder = make_labeler("owner"), make_labeler("intruder")
    annotation = submit(project, owner, services.assignment_next(project=project, user=owner))
    with pytest.raises(NotFound):
        services.annotation_update(
            project=project, user=intruder, annotation_id=annotation.pk, label_id=annotation.label_id
        )


def test_imported_annotations_count_towards_k_and_are_not_editable(project, make_labeler):
    from labeling.selectors import annotation_is_editable

    example = ExampleFactory(project=project)
    rater = make_labeler("imported-rater")
    imported = AnnotationFactory(example=example, rater=rater, label=project.labels.first(), source="import")
    Example.objects.filter(pk=example.pk).update(annotation_count=1)
    assert not annotation_is_editable(imported)
    # The rater who already has an imported label is not given the example again.
    assert services.assignment_next(project=project, user=rater) is None
    # Two more raters complete it; a third finds nothing.
    for name in ("x", "y"):
        user = make_labeler(name)
        submit(project, user, services.assignment_next(project=project, user=user))
    assert services.assignment_next(project=project, user=make_labeler("z")) is None
    assert example.annotations.count() == 3
