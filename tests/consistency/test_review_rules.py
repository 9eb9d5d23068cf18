"""The disagreement rules: the pure decision function, and the same rules applied by
annotation_submit (consensus labels, the queue, adaptive overlap)."""

import uuid

import pytest

from core.errors import ApplicationError
from labeling import decisions as review
from labeling.models import ConsensusLabel, Disagreement
from labeling.services import annotations as services
from tests.factories import ExampleFactory, GuidelineVersionFactory


def decide(votes, **overrides):
    rules = {"k": len(votes), "threshold": 0.66, "accept_majority": False}
    rules.update(overrides)
    return review.decide(votes, **rules)


class TestDecide:
    def test_unanimous_is_accepted(self):
        outcome = decide(["bug", "bug", "bug"])
        assert outcome.kind == review.ACCEPT_UNANIMOUS
        assert (outcome.label, outcome.share) == ("bug", 1.0)

    def test_majority_at_threshold_is_accepted_when_the_project_accepts_majorities(self):
        outcome = decide(["bug", "bug", "billing"], accept_majority=True)
        assert outcome.kind == review.ACCEPT_MAJORITY
        assert outcome.label == "bug"
        assert outcome.share == pytest.approx(2 / 3)

    def test_share_exactly_at_the_threshold_counts_as_reaching_it(self):
        outcome = decide(["bug", "bug", "billing"], threshold=2 / 3, accept_majority=True)
        assert outcome.kind == review.ACCEPT_MAJORITY

    def test_majority_at_threshold_is_queued_for_review_otherwise(self):
        outcome = decide(["bug", "bug", "billing"], accept_majority=False)
        assert (outcome.kind, outcome.reason) == (review.QUEUE, review.REASON_MAJORITY_REVIEW)
        assert (outcome.label_a, outcome.label_b) == ("bug", "billing")

    def test_majority_below_threshold_is_queued_even_when_majorities_are_accepted(self):
        outcome = decide(["bug", "bug", "billing"], threshold=0.75, accept_majority=True)
        assert (outcome.kind, outcome.reason) == (review.QUEUE, review.REASON_BELOW_THRESHOLD)

    def test_a_tie_at_the_top_is_a_split(self):
        outcome = decide(["bug", "billing"], k=2, accept_majority=True)
        assert (outcome.kind, outcome.reason) == (review.QUEUE, review.REASON_SPLIT)

    def test_any_ambiguous_flag_queues_even_before_k_votes(self):
        outcome = decide(["bug"], k=3, ambiguous=True, accept_majority=True)
        assert (outcome.kind, outcome.reason) == (review.QUEUE, review.REASON_AMBIGUOUS)
        assert decide(["bug"] * 3, ambiguous=True).reason == review.REASON_AMBIGUOUS

    def test_fewer_than_k_votes_wait(self):
        assert decide(["bug", "billing"], k=3).kind == review.PENDING

    def test_a_split_asks_the_fewest_extra_raters_that_could_settle_it(self):
        # 1 vs 1 at a threshold of 0.66: two more agreeing raters make 3 of 4 (0.75); one makes 2 of 3.
        outcome = decide(["bug", "billing"], k=2, extra_allowed=3, accept_majority=True)
        assert (outcome.kind, outcome.n_more) == (review.ASK_MORE, 1)
        outcome = decide(["bug", "bug", "billing", "billing"], k=4, threshold=0.7, extra_allowed=5)
        assert (outcome.kind, outcome.n_more) == (review.ASK_MORE, 3)  # 5 of 7 = 0.714

    def test_still_split_after_the_extra_raters_is_queued(self):
        outcome = decide(["bug", "billing", "feature"], k=3, extra_allowed=1, extra_asked=1)
        assert (outcome.kind, outcome.reason) == (review.QUEUE, review.REASON_SPLIT)

    def test_no_extra_raters_when_even_all_of_them_could_not_reach_the_threshold(self):
        outcome = decide(["bug", "billing", "feature"], k=3, extra_allowed=1)
        assert outcome.kind == review.QUEUE

    def test_unanimity_threshold_queues_any_split(self):
        outcome = decide(["bug", "bug", "billing"], threshold=1.0, extra_allowed=10, accept_majority=True)
        assert outcome.kind == review.QUEUE


# ------------------------------------------------------------------------------------------------
# Through annotation_submit


@pytest.fixture
def raters(make_labelers):
    return make_labelers(6)


def label_one(project, user, example, label_name, **extra):
    assignment = services.assignment_next(project=project, user=user)
    assert assignment is not None
    assert assignment.example_id == example.pk
    label = project.labels.get(name=label_name)
    return services.annotation_submit(
        project=project,
        user=user,
        example_id=example.pk,
        label_id=label.pk,
        client_token=uuid.uuid4(),
        **extra,
    )


def configure(project, **fields):
    for name, value in fields.items():
        setattr(project, name, value)
    project.save()


@pytest.mark.django_db
class TestDetectionOnSubmit:
    def test_unanimous_goes_to_the_clean_set(self, project, raters):
        example = ExampleFactory(project=project)
        for user in raters[:3]:
            label_one(project, user, example, "bug")
        consensus = ConsensusLabel.objects.get(example=example)
        assert (consensus.label.name, consensus.source, consensus.n_raters) == ("bug", "unanimous", 3)
        assert not Disagreement.objects.exists()

    def test_nothing_is_decided_before_k_labels(self, project, raters):
        example = ExampleFactory(project=project)
        label_one(project, raters[0], example, "bug")
        label_one(project, raters[1], example, "billing")
        assert not ConsensusLabel.objects.exists()
        assert not Disagreement.objects.exists()

    def test_accepted_majority(self, project, raters):
        configure(project, accept_majority=True, majority_threshold=0.66)
        example = ExampleFactory(project=project)
        for user, name in zip(raters, ["bug", "billing", "bug"], strict=False):
            label_one(project, user, example, name)
        consensus = ConsensusLabel.objects.get(example=example)
        assert (consensus.label.name, consensus.source) == ("bug", "majority")
        assert consensus.agreement == pytest.approx(2 / 3)

    def test_majority_queued_for_review_when_not_accepted(self, project, raters):
        configure(project, accept_majority=False)
        example = ExampleFactory(project=project)
        for user, name in zip(raters, ["bug", "billing", "bug"], strict=False):
            label_one(project, user, example, name)
        disagreement = Disagreement.objects.get(example=example)
        assert disagreement.reason == "majority_review"
        assert (disagreement.label_a.name, disagreement.label_b.name) == ("bug", "billing")
        assert not ConsensusLabel.objects.exists()

    def test_majority_below_threshold_is_queued(self, project, raters):
        configure(project, accept_majority=True, majority_threshold=0.8)
        example = ExampleFactory(project=project)
        for user, name in zip(raters, ["bug", "billing", "bug"], strict=False):
            label_one(project, user, example, name)
        assert Disagreement.objects.get(example=example).reason == "below_threshold"

    def test_ambiguous_flag_queues_at_once_and_records_the_versions_involved(self, project, raters):
        version = GuidelineVersionFactory(project=project, number=1)
        example = ExampleFactory(project=project)
        label_one(project, raters[0], example, "bug", ambiguous=True, ambiguous_note="could be billing")
        disagreement = Disagreement.objects.get(example=example, status="open")
        assert disagreement.reason == "ambiguous"
        assert list(disagreement.guideline_versions.all()) == [version]
        # The other raters still label it; the one open disagreement is updated, not duplicated.
        label_one(project, raters[1], example, "bug")
        label_one(project, raters[2], example, "bug")
        assert Disagreement.objects.filter(example=example).count() == 1

    def test_split_asks_extra_raters_then_queues_if_still_split(self, project, raters):
        configure(project, overlap=2, extra_raters_on_split=1, accept_majority=True, majority_threshold=0.66)
        example = ExampleFactory(project=project)
        label_one(project, raters[0], example, "bug")
        label_one(project, raters[1], example, "billing")
        example.refresh_from_db()
        assert example.extra_raters == 1  # effective k is now 3
        assert not Disagreement.objects.exists()
        label_one(project, raters[2], example, "feature")  # a third rater is handed the example
        assert Disagreement.objects.get(example=example).reason == "split"  # three-way tie
        # And no fourth rater: the allowance is used up.
        assert services.assignment_next(project=project, user=raters[3]) is None

    def test_split_settled_by_the_extra_rater_is_accepted(self, project, raters):
        configure(project, overlap=2, extra_raters_on_split=2, accept_majority=True, majority_threshold=0.66)
        example = ExampleFactory(project=project)
        label_one(project, raters[0], example, "bug")
        label_one(project, raters[1], example, "billing")
        label_one(project, raters[2], example, "bug")
        assert ConsensusLabel.objects.get(example=example).source == "majority"

    def test_undo_below_k_takes_the_example_out_of_the_queue(self, project, raters):
        example = ExampleFactory(project=project)
        for user, name in zip(raters, ["bug", "billing", "feature"], strict=False):
            label_one(project, user, example, name)
        assert Disagreement.objects.filter(example=example, status="open").exists()
        services.annotation_undo(project=project, user=raters[2])
        assert not Disagreement.objects.exists()

    def test_update_that_makes_it_unanimous_accepts_it(self, project, raters):
        example = ExampleFactory(project=project)
        annotations = [
            label_one(project, user, example, name)
            for user, name in zip(raters, ["bug", "bug", "feature"], strict=False)
        ]
        services.annotation_update(
            project=project, user=raters[2], annotation_id=annotations[2].pk, label_id=annotations[0].label_id
        )
        assert not Disagreement.objects.exists()
        assert ConsensusLabel.objects.get(example=example).source == "unanimous"

    def test_annotations_of_a_resolved_example_are_no_longer_editable(self, project, raters, sme):
        from consistency.review import services as review_services

        example = ExampleFactory(project=project)
        annotations = [
            label_one(project, user, example, name)
            for user, name in zip(raters, ["bug", "billing", "feature"], strict=False)
        ]
        disagreement = Disagreement.objects.get(example=example)
        review_services.review_resolve(
            project=project,
            user=sme,
            disagreement_id=disagreement.pk,
            verdict="gold",
            label_id=project.labels.get(name="bug").pk,
        )
        with pytest.raises(ApplicationError):
            services.annotation_update(
                project=project,
                user=raters[1],
                annotation_id=annotations[1].pk,
                label_id=annotations[0].label_id,
            )
