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
