"""Real parallel labelers on PostgreSQL: threads with their own database connections call the
services while others skip, abandon leases, double-submit and retry. Each holds a queue of leases;
a third of them label faster than the server answers (the page's background sender, whose answers
are sometimes lost and sent again with the same client token). Afterwards every example
has exactly k labels from k distinct raters and every acknowledged submission is stored once."""

import queue as queue_module
import random
import threading
import time
import traceback
import uuid
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from core.errors import ApplicationError
from labeling.models import Annotation, Assignment
from labeling.services import annotations as services
from projects.models import Example, Role
from tests.factories import LabelFactory, MembershipFactory, ProjectFactory, UserFactory, leases_run_out

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N_LABELERS = 30
N_GHOSTS = 4
N_EXAMPLES = 500
K = 3
DEADLINE_SECONDS = 300  # a cap against hangs (the drain takes 20-40 s on an idle machine), not a timing


def _labelers(project, prefix, n):
    users = []
    for i in range(n):
        user = UserFactory(username=f"{prefix}{i}")
        MembershipFactory(user=user, project=project, role=Role.LABELER)
        users.append(user)
    return users


def test_parallel_labelers_fill_every_example_exactly_k_times():
    project = ProjectFactory(slug="race", overlap=K, lease_minutes=30)
    labels = [LabelFactory(project=project, name=f"l{i}", shortcut_key=str(i + 1)) for i in range(3)]
    Example.objects.bulk_create(
        Example(project=project, external_id=f"e{i}", text=f"text {i}") for i in range(N_EXAMPLES)
    )
    labelers = _labelers(project, "rater", N_LABELERS)
    ghosts = _labelers(project, "ghost", N_GHOSTS)

    acknowledged: list[tuple[int, uuid.UUID, int, int]] = []
    refused_late: list[int] = []
    dropped: list[uuid.UUID] = []
    errors: list[str] = []
    start = threading.Barrier(N_LABELERS + N_GHOSTS)
    deadline = time.monotonic() + DEADLINE_SECONDS

    def submit(user, assignment, token, rng):
        return services.annotation_submit(
            project=project,
            user=user,
            example_id=assignment.example_id,
            label_id=rng.choice(labels).pk,
            client_token=token,
            time_spent_ms=rng.randint(500, 5000),
        )

    def in_thread(fn):
        def run(*args):
            try:
                fn(*args)
            except Exception:
                errors.append(traceback.format_exc())
            finally:
                connection.close()

        return run

    @in_thread
    def ghost(user):
        # Takes a queue of examples and walks away: the leases run out and are never used.
        start.wait()
        queue = services.lease_queue(project=project, user=user)
        leases_run_out([a.pk for a in queue])

    @in_thread
    def twin_submit(user, assignment, token, seed, results):
        results.append(submit(user, assignment, token, random.Random(seed)))

    def label_one(user, assignment, rng, seed):
        """One keypress on a held example, answered before the next (the page without its script)."""
        roll = rng.random()
        token = uuid.uuid4()
        if roll < 0.08:
            services.assignment_skip(project=project, user=user, example_id=assignment.example_id, reason="r")
            return
        if roll < 0.13:
            # Abandoned, then submitted late: honoured while the slot is free, else refused.
            leases_run_out([assignment.pk])
            time.sleep(rng.random() * 0.05)
            try:
                annotation = submit(user, assignment, token, rng)
            except ApplicationError:
                refused_late.append(assignment.example_id)
                return
        elif roll < 0.22:
            # Double click: two requests with the same token at the same time.
            results: list[Annotation] = []
            twin = threading.Thread(target=twin_submit, args=(user, assignment, token, seed, results))
            twin.start()
            annotation = submit(user, assignment, token, rng)
            twin.join()
            assert results
            assert results[0].pk == annotation.pk
        else:
            annotation = submit(user, assignment, token, rng)
            if roll > 0.9:
                # Retry after a lost response: same token, same annotation.
                assert submit(user, assignment, token, rng).pk == annotation.pk
        acknowledged.append((annotation.pk, token, user.pk, assignment.example_id))

    def nothing_left() -> bool:
        return not Example.objects.filter(project=project, annotation_count__lt=K).exists()

    @in_thread
    def labeler(user, seed):
        """Works through its queue of leases one keypress at a time."""
        rng = random.Random(seed)
        start.wait()
        while time.monotonic() < deadline:
            queue = services.lease_queue(project=project, user=user)
            if not queue:
                if nothing_left():
                    return
                time.sleep(0.02)  # others still hold leases that may come back
                continue
            for assignment in queue:
                label_one(user, assignment, rng, seed)

    @in_thread
    def sender(user, outbox: queue_module.Queue, answered: threading.Event, seed):
        """The page's background sender: labels in the order they were given, each with its token;
        some answers are lost on the way back, and the page sends the same label again."""
        rng = random.Random(seed)
        while (item := outbox.get()) is not None:
            assignment, token = item
            if rng.random() < 0.15:
                submit(user, assignment, token, rng)  # stored, but the answer never arrives
                dropped.append(token)
            annotation = submit(user, assignment, token, rng)
            acknowledged.append((annotation.pk, token, user.pk, assignment.example_id))
            answered.set()

    @in_thread
    def fast_labeler(user, seed):
        """Presses keys faster than the server answers: every held example it has not labeled yet
        is labeled at once and handed to the sender, as the page's script does; the next examples
        arrive when the sender's submits top the queue up."""
        outbox: queue_module.Queue = queue_module.Queue()
        answered = threading.Event()
        worker = threading.Thread(target=sender, args=(user, outbox, answered, seed))
        worker.start()
        given: set[int] = set()
        start.wait()
        try:
            while time.monotonic() < deadline:
                queue = services.lease_queue(project=project, user=user)
                fresh = [a for a in queue if a.example_id not in given]
                if not fresh:
                    if not queue and outbox.empty() and nothing_left():
                        return
                    answered.wait(0.05)  # the next examples come with the server's answer
                    answered.clear()
                    continue
                for assignment in fresh:
                    given.add(assignment.example_id)
                    outbox.put((assignment, uuid.uuid4()))
        finally:
            outbox.put(None)
            worker.join()

    threads = [threading.Thread(target=ghost, args=(user,)) for user in ghosts]
    threads += [
        threading.Thread(target=fast_labeler if n % 3 == 0 else labeler, args=(user, n))
        for n, user in enumerate(labelers)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    print(
        f"drained in {elapsed:.1f}s, {len(acknowledged)} acks, {len(refused_late)} late refusals, "
        f"{len(dropped)} answers lost and sent again"
    )
    assert not errors, errors[0]
    assert elapsed < DEADLINE_SECONDS, "labelers did not drain the pool in time"

    annotations = Annotation.objects.filter(example__project=project)
    # Every acknowledged submission is stored exactly once, and nothing else is.
    stored = {a.pk: (a.client_token, a.rater_id, a.example_id) for a in annotations}
    assert len(stored) == len({ack[0] for ack in acknowledged})
    for pk, token, rater_id, example_id in acknowledged:
        assert stored[pk] == (token, rater_id, example_id)
    # No rater labeled an example twice.
    pairs = Counter(annotations.values_list("example_id", "rater_id"))
    assert max(pairs.values()) == 1
    # Every example has exactly k labels, and the denormalised counter agrees.
    real = dict(annotations.values("example_id").annotate(n=Count("id")).values_list("example_id", "n"))
    for example_id, counter in Example.objects.filter(project=project).values_list("id", "annotation_count"):
        assert real.get(example_id, 0) == K, example_id
        assert counter == K, example_id
    # Active slots never exceed k, and no lease is left behind on a finished example.
    slots = Counter(
        Assignment.objects.filter(project=project, status__in=Assignment.ACTIVE).values_list(
            "example_id", flat=True
        )
    )
    assert max(slots.values()) == K
    assert not Assignment.objects.filter(
        project=project, status="leased", expires_at__gt=timezone.now()
    ).exists()
    # A label whose answer was lost is stored once, under its token.
    assert dropped
    assert Annotation.objects.filter(client_token__in=dropped).count() == len(dropped)
    # Ghosts' examples were completed by others.
    assert not Annotation.objects.filter(rater__in=ghosts).exists()
