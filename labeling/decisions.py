"""The disagreement rules as one pure function: the votes on an example in, what to do with the
example out. No ORM here; labeling.services.decisions applies the outcome under the example's lock."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

ACCEPT_UNANIMOUS = "accept_unanimous"
ACCEPT_MAJORITY = "accept_majority"
ASK_MORE = "ask_more"
QUEUE = "queue"
PENDING = "pending"  # fewer than k votes and nothing flagged: wait for the other raters

REASON_SPLIT = "split"
REASON_BELOW_THRESHOLD = "below_threshold"
REASON_AMBIGUOUS = "ambiguous"
REASON_MAJORITY_REVIEW = "majority_review"

# A share like 2/3 must count as "at or above" a threshold typed as 0.6667's rounded cousin 0.66
# or as exactly 2/3; floating point must not turn "equal" into "below".
EPSILON = 1e-9


@dataclass(frozen=True)
class Outcome:
    kind: str
    label: Hashable | None = None  # the accepted (or most-voted) label
    share: float | None = None  # the most-voted label's share of the votes
    reason: str | None = None  # for QUEUE
    n_more: int = 0  # for ASK_MORE
    label_a: Hashable | None = None  # the two most-voted labels (label_b None when only one)
    label_b: Hashable | None = None
    n_votes: int = 0


def _extra_needed(top: int, total: int, threshold: float) -> int:
    """How many more raters, all agreeing with the current top label, would lift its share to the
    threshold: the smallest n with (top + n) / (total + n) >= threshold."""
    if threshold >= 1.0:
        return 0 if top == total else math.inf  # unanimity can never be reached once split
    n = (threshold * total - top) / (1.0 - threshold)
    return max(0, math.ceil(n - EPSILON))


def decide(
    votes: Sequence[Hashable],
    *,
    k: int,
    threshold: float,
    accept_majority: bool,
    extra_allowed: int = 0,
    extra_asked: int = 0,
    ambiguous: bool = False,
) -> Outcome:
    """What happens to an example with these `votes` (one label per current annotation).

    `k` is the example's effective overlap (the project's k plus the extra raters already asked),
    `extra_allowed` the project's extra raters on a split, `extra_asked` those already granted.

    Rules, in order:
    1. Any ambiguous flag queues the example (reason ambiguous), even before k votes.
    2. Fewer than k votes: pending.
    3. One label only: accept it (unanimous).
    4. A top share at or above the threshold: accept it, or queue it for review when the project
       does not accept majorities (reason majority_review).
    5. Below the threshold (or tied at the top): ask the fewest extra raters that could still lift
       the top label to the threshold, if that many are left in the allowance; otherwise queue
       (reason split for a tie at the top, below_threshold otherwise).
    """
    counts = Counter(votes).most_common()
    n = len(votes)
    label_a = counts[0][0] if counts else None
    label_b = counts[1][0] if len(counts) > 1 else None
    top = counts[0][1] if counts else 0
    share = top / n if n else None
    common = {"label": label_a, "share": share, "label_a": label_a, "label_b": label_b, "n_votes": n}
    if ambiguous:
        return Outcome(QUEUE, reason=REASON_AMBIGUOUS, **common)
    if n < k or n == 0:
        return Outcome(PENDING, **common)
    if len(counts) == 1:
        return Outcome(ACCEPT_UNANIMOUS, **common)
    if share + EPSILON >= threshold:
        if accept_majority:
            return Outcome(ACCEPT_MAJORITY, **common)
        return Outcome(QUEUE, reason=REASON_MAJORITY_REVIEW, **common)
    left = max(0, extra_allowed - extra_asked)
    needed = _extra_needed(top, n, threshold)
    if 0 < needed <= left:
        return Outcome(ASK_MORE, n_more=int(needed), **common)
    tied = counts[1][1] == top
    return Outcome(QUEUE, reason=REASON_SPLIT if tied else REASON_BELOW_THRESHOLD, **common)


def label_set_share(votes: Sequence[Sequence[Hashable]]) -> tuple[dict[Hashable, int], float | None]:
    """How many raters chose each label, and the weakest label's agreement: the smallest share of
    raters agreeing on whether a label is in the set (over the labels anyone chose; a label nobody
    chose is agreed absent by all). 1.0 when every rater gave the same set."""
    n = len(votes)
    present: Counter = Counter(label for vote in votes for label in set(vote))
    if not n:
        return dict(present), None
    share = min((max(count, n - count) / n for count in present.values()), default=1.0)
    return dict(present), share


def decide_set(
    votes: Sequence[Sequence[Hashable]],
    *,
    k: int,
    threshold: float,
    accept_majority: bool,
    ambiguous: bool = False,
) -> Outcome:
    """What happens to a multi-label example with these `votes` (one label set per current
    annotation; an empty set is "none of these").

    The consensus set is the per-label majority: a label is in it when more than half of the
    raters chose it. `label` of the outcome is that set (a sorted tuple), `share` the weakest
    label's agreement (label_set_share), `label_a` and `label_b` the two most contested labels
    (those closest to an even split; None when fewer were contested), for the queue's filters.

    Rules, in order:
    1. Any ambiguous flag queues the example (reason ambiguous), even before k votes.
    2. Fewer than k votes: pending.
    3. Every rater gave the same set: accept it (unanimous).
    4. Every label's presence or absence agreed by at least `threshold` of the raters, and the
       per-label majority set given by at least one rater (a clear majority): accept that set, or
       queue it when the project does not accept majorities (reason majority_review). The second
       condition matters with few raters: with three, every label is agreed by at least 2 of 3, so
       {billing}, {bug}, {feature} would otherwise be accepted as "none of these", a set nobody
       chose.
    5. Anything else is queued: reason split when some label divides the raters exactly in half,
       below_threshold otherwise. (No extra raters are asked for label sets.)
    """
    n = len(votes)
    present, share = label_set_share(votes)
    consensus = tuple(sorted(label for label, count in present.items() if 2 * count > n))
    # Most contested first: the smallest margin between raters who chose the label and those who
    # did not; ties in a stable order (by label).
    contested = sorted(
        (label for label, count in present.items() if count < n),
        key=lambda label: (abs(2 * present[label] - n), str(label)),
    )
    common = {
        "label": consensus,
        "share": share,
        "label_a": contested[0] if contested else None,
        "label_b": contested[1] if len(contested) > 1 else None,
        "n_votes": n,
    }
    if ambiguous:
        return Outcome(QUEUE, reason=REASON_AMBIGUOUS, **common)
    if n < k or n == 0:
        return Outcome(PENDING, **common)
    if len({tuple(sorted(set(vote))) for vote in votes}) == 1:
        return Outcome(ACCEPT_UNANIMOUS, **common)
    given = any(tuple(sorted(set(vote))) == consensus for vote in votes)
    if given and share + EPSILON >= threshold:
        if accept_majority:
            return Outcome(ACCEPT_MAJORITY, **common)
        return Outcome(QUEUE, reason=REASON_MAJORITY_REVIEW, **common)
    tied = any(2 * count == n for count in present.values())
    return Outcome(QUEUE, reason=REASON_SPLIT if tied else REASON_BELOW_THRESHOLD, **common)


def decide_spans(
    votes: Sequence[Sequence[Sequence[int]]],
    *,
    k: int,
    threshold: float,
    accept_majority: bool,
    ambiguous: bool = False,
) -> Outcome:
    """What happens to a span example with these `votes` (one list of ``[start, end, label_id]``
    per current annotation; an empty list is "no entities").

    Spans match exactly (same offsets and label). The rules are those of `decide_set`, with spans
    in the place of labels: the consensus is the spans more than half of the raters marked; the
    same spans from everyone is unanimous; a consensus some rater gave in full, with every span's
    presence agreed by at least `threshold` of the raters, is a majority; anything else (any span
    without a clear majority for or against it) is queued. `label` of the outcome is the
    consensus as a sorted tuple of ``(start, end, label_id)``; `label_a` and `label_b` are the
    labels of the most contested spans.

    One more rule keeps an entity from being dropped because raters split on its label or its
    boundaries: a span that more than half of the raters overlapped with spans of their own (any
    label, any boundaries), while no consensus span overlaps it, makes a majority a split: the
    example is queued (below_threshold) rather than accepted, or reviewed as a clear majority,
    without that entity. (Unanimity cannot drop an entity.)
    """
    keyed = [[(int(s), int(e), int(label)) for s, e, label in vote] for vote in votes]
    outcome = decide_set(
        keyed, k=k, threshold=threshold, accept_majority=accept_majority, ambiguous=ambiguous
    )
    clear = outcome.kind == ACCEPT_MAJORITY or outcome.reason == REASON_MAJORITY_REVIEW
    if clear and _dropped_entity(keyed, outcome.label):
        outcome = Outcome(
            QUEUE,
            label=outcome.label,
            share=outcome.share,
            reason=REASON_BELOW_THRESHOLD,
            n_votes=outcome.n_votes,
        )
    present, _ = label_set_share(keyed)
    n = len(keyed)
    ranked = sorted(
        (span for span, count in present.items() if count < n),
        key=lambda span: (abs(2 * present[span] - n), span),
    )
    labels: list[int] = []
    for span in ranked:
        if span[2] not in labels:
            labels.append(span[2])
    return Outcome(
        outcome.kind,
        label=outcome.label,
        share=outcome.share,
        reason=outcome.reason,
        n_more=outcome.n_more,
        label_a=labels[0] if labels else None,
        label_b=labels[1] if len(labels) > 1 else None,
        n_votes=outcome.n_votes,
    )


def _overlaps(span: tuple, others: Sequence[tuple]) -> bool:
    return any(other[0] < span[1] and span[0] < other[1] for other in others)


def _dropped_entity(votes: Sequence[Sequence[tuple]], consensus: Sequence[tuple]) -> bool:
    """Whether some span was overlapped by more than half of the raters' spans (one count per
    rater) yet no consensus span overlaps it: most raters saw an entity there."""
    n = len(votes)
    for vote in votes:
        for span in vote:
            if _overlaps(span, consensus):
                continue
            if 2 * sum(_overlaps(span, other) for other in votes) > n:
                return True
    return False
