"""Two SMEs resolving the same disagreement at the same moment on PostgreSQL: one wins, the other
is told, nothing is lost."""

import threading

import pytest
from django.db import connection

from consistency.review import services as review_services
from consistency.review.models import Resolution
from core.errors import ApplicationError
from labeling.models import Annotation, ConsensusLabel, Disagreement
from projects.models import Role
from tests.factories import ExampleFactory, LabelFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(n_threads, work):
    barrier = threading.Barrier(n_threads)
    results: list = [None] * n_threads

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _setup():
    project = ProjectFactory(slug="review-race", overlap=2)
    bug = LabelFactory(project=project, name="bug", shortcut_key="1")
    billing = LabelFactory(project=project, name="billing", shortcut_key="2")
    smes = []
    for n in range(2):
        user = UserFactory(username=f"sme{n}")
        MembershipFactory(user=user, project=project, role=Role.SME)
        smes.append(user)
    example = ExampleFactory(project=project, annotation_count=2)
    for n, label in enumerate([bug, billing]):
        Annotation.objects.create(example=example, rater=UserFactory(username=f"r{n}"), label=label)
    disagreement = Disagreement.objects.create(
        project=project, example=example, reason="split", label_a=bug, label_b=billing, majority_share=0.5
    )
    return project, smes, [bug, billing], example, disagreement


def test_two_smes_resolving_the_same_case_one_wins_the_other_is_told():
    project, smes, labels, example, disagreement = _setup()

    results = _race(
        2,
        lambda i: review_services.review_resolve(
            project=project,
            user=smes[i],
            disagreement_id=disagreement.pk,
            verdict="gold",
            label_id=labels[i].pk,
            rationale=f"reviewer {i}",
        ),
    )
    won = [r for r in results if isinstance(r, Resolution)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1, results
    assert len(lost) == 1, results
    assert isinstance(lost[0], ApplicationError)
    assert lost[0].message == review_services.ALREADY_RESOLVED_MESSAGE
    assert Resolution.objects.count() == 1
    disagreement.refresh_from_db()
    assert disagreement.status == "resolved"
    consensus = ConsensusLabel.objects.get(example=example)
    assert (consensus.source, consensus.label_id) == ("gold", won[0].label_id)


def test_two_concurrent_revisions_of_one_resolution_cannot_both_win():
    project, smes, labels, example, disagreement = _setup()
    first = review_services.review_resolve(
        project=project, user=smes[0], disagreement_id=disagreement.pk, verdict="gold", label_id=labels[0].pk
    )
    results = _race(
        2,
        lambda i: review_services.resolution_revise(
            project=project, user=smes[i], resolution_id=first.pk, verdict="gold", label_id=labels[1].pk
        ),
    )
    assert sum(isinstance(r, Resolution) for r in results) == 1, results
    assert sum(isinstance(r, ApplicationError) for r in results) == 1, results
    assert Resolution.objects.count() == 2
    assert Resolution.objects.get(supersedes=first).label_id == labels[1].pk
