"""Real parallel labelers on PostgreSQL: threads with their own database connections call the
services while others skip, abandon leases, double-submit and retry. Afterwards every example
has exactly k labels from k distinct raters and every acknowledged submission is stored once."""

import random
import threading
import time
import traceback
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from core.errors import ApplicationError
from labeling.models import Annotation, Assignment
from labeling.services import annotations as services
from projects.models import Example, Role
from tests.factories import LabelFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N_LABELERS = 30
N_GHOSTS = 4
N_EXAMPLES = 500
K = 3
DEADLINE_SECONDS = 90  # a cap against hangs; the drain takes 20-40 s


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
        # Takes an example and walks away: the lease runs out and is never used.
        start.wait()
        assignment = services.assignment_next(project=project, user=user)
        Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    @in_thread
    def twin_submit(user, assignment, token, seed, results):
        results.append(submit(user, assignment, token, random.Random(seed)))

    @in_thread
    def labeler(user, seed):
        rng = random.Random(seed)
        start.wait()
        while time.monotonic() < deadline:
            assignment = services.assignment_next(project=project, user=user)
            if assignment is None:
                if not Example.objects.filter(project=project, annotation_count__lt=K).exists():
                    return
                time.sleep(0.02)  # others still hold leases that may come back
                continue
            roll = rng.random()
            token = uuid.uuid4()
            if roll < 0.08:
                services.assignment_skip(
                    project=project, user=user, example_id=assignment.example_id, reason="r"
                )
                continue
            if roll < 0.13:
                # Abandoned, then submitted late: honoured while the slot is free, else refused.
                Assignment.objects.filter(pk=assignment.pk).update(
                    expires_at=timezone.now() - timedelta(seconds=1)
                )
                time.sleep(rng.random() * 0.05)
                try:
                    annotation = submit(user, assignment, token, rng)
                except ApplicationError:
                    refused_late.append(assignment.example_id)
                    continue
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

    threads = [threading.Thread(target=ghost, args=(user,)) for user in ghosts]
    threads += [threading.Thread(target=labeler, args=(user, n)) for n, user in enumerate(labelers)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    print(f"drained in {elapsed:.1f}s, {len(acknowledged)} acks, {len(refused_late)} late refusals")
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
    # Ghosts' examples were completed by others.
    assert not Annotation.objects.filter(rater__in=ghosts).exists()
