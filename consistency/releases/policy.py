"""Pure pieces of dataset releases (no ORM): the release policy, stable stratified split assignment
(streaming), pseudonymous rater ids, canonical JSON text, and CSV formula escaping.

The canonical JSON is PostgreSQL's `jsonb` text form (keys ordered by byte length, then bytes;
", " and ": " separators; non-ASCII kept): PostgreSQL renders stored JSON values that way itself,
and jsonb_text reproduces it byte for byte for values read on other databases.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

SPLITS = ("train", "dev", "test")
SOURCES = ("gold", "unanimous", "majority", "dawid_skene")
DEFAULT_SOURCES = ("gold", "unanimous", "majority")
TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
RESERVED_TAGS = frozenset({"diff"})  # a page's path under releases/
AGREEMENT_DECIMALS = 4
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class PolicyError(ValueError):
    """A release policy that cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class ReleasePolicy:
    """What counts as clean and how it is split. Stored as JSON on the release."""

    sources: tuple[str, ...] = DEFAULT_SOURCES
    min_agreement: float = 0.0
    exclude_ambiguous: bool = True
    include_rationale: bool = False
    include_raters: bool = False
    use_dawid_skene: bool = False
    min_posterior: float = 0.9
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    stratify_field: str = ""
    seed: str = ""
    # Tags as release filters: keep only examples with at least one of `include_tags` (when any
    # are given), and drop examples with any of `exclude_tags`.
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = list(self.sources)
        data["ratios"] = list(self.ratios)
        data["include_tags"] = list(self.include_tags)
        data["exclude_tags"] = list(self.exclude_tags)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ReleasePolicy:
        """A validated policy from user input (missing keys take their defaults)."""
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise PolicyError(f"Unknown policy field(s): {', '.join(sorted(unknown))}.")
        raw_sources = data.get("sources", DEFAULT_SOURCES)
        if isinstance(raw_sources, str):
            raw_sources = [s for s in raw_sources.split(",") if s]
        raw_sources = [str(s) for s in raw_sources or ()]
        bad = set(raw_sources) - set(SOURCES)
        if bad:
            raise PolicyError(f"Unknown source(s): {', '.join(sorted(bad))}.")
        if not raw_sources:
            raise PolicyError("Choose at least one source.")
        sources = tuple(s for s in SOURCES if s in raw_sources)
        if "dawid_skene" in sources:
            data["use_dawid_skene"] = True
        try:
            min_agreement = float(data.get("min_agreement", 0.0))
            min_posterior = float(data.get("min_posterior", 0.9))
            ratios = tuple(float(r) for r in data.get("ratios", (0.8, 0.1, 0.1)))
        except (TypeError, ValueError):
            raise PolicyError("Agreement, posterior and ratios must be numbers.") from None
        if not 0.0 <= min_agreement <= 1.0:
            raise PolicyError("The minimum agreement must be between 0 and 1.")
        if not 0.0 <= min_posterior <= 1.0:
            raise PolicyError("The minimum posterior must be between 0 and 1.")
        if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
            raise PolicyError("Give three split ratios (train, dev, test) that are >= 0 and sum to 1.")
        use_ds = bool(data.get("use_dawid_skene", False))
        if use_ds and "dawid_skene" not in sources:
            sources = (*sources, "dawid_skene")
        return cls(
            sources=sources,
            min_agreement=min_agreement,
            exclude_ambiguous=bool(data.get("exclude_ambiguous", True)),
            include_rationale=bool(data.get("include_rationale", False)),
            include_raters=bool(data.get("include_raters", False)),
            use_dawid_skene=use_ds,
            min_posterior=min_posterior,
            ratios=ratios,  # type: ignore[arg-type]
            stratify_field=str(data.get("stratify_field") or ""),
            seed=str(data.get("seed") or ""),
            include_tags=_tags(data.get("include_tags"), "include_tags"),
            exclude_tags=_tags(data.get("exclude_tags"), "exclude_tags"),
        )


EXAMPLE_TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")  # as projects.services.tags


def _tags(raw: Any, name: str) -> tuple[str, ...]:
    """Tags of a policy filter from a list or a comma-separated string, checked and sorted."""
    if raw in (None, ""):
        return ()
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple):
        raise PolicyError(f"{name}: give a list of tags.")
    tags = sorted({str(tag).strip().lower() for tag in raw if str(tag).strip()})
    bad = [tag for tag in tags if not EXAMPLE_TAG_PATTERN.match(tag)]
    if bad:
        raise PolicyError(f"{name}: {bad[0]!r} is not a tag (lowercase letters, digits, '.', '-', '_').")
    return tuple(tags)


NO_TAGS: frozenset[str] = frozenset()


def tag_filter_accepts(policy: ReleasePolicy, tags: frozenset[str]) -> bool:
    """Whether an example carrying `tags` passes the policy's tag filters."""
    if policy.include_tags and not tags.intersection(policy.include_tags):
        return False
    return not tags.intersection(policy.exclude_tags)


@dataclass(frozen=True)
class Candidate:
    """One example's current decision, before the policy is applied."""

    external_id: str
    label: str
    source: str
    agreement: float | None
    n_raters: int
    ambiguous: bool = False


def passes_policy(candidate: Candidate, policy: ReleasePolicy) -> bool:
    """Whether an example's decision is clean under the policy (policy_accepts)."""
    return policy_accepts(policy, candidate.source, candidate.agreement, candidate.ambiguous)


def policy_accepts(policy: ReleasePolicy, source: str, agreement: float | None, ambiguous: bool) -> bool:
    """Whether a decision from `source` with this agreement and ambiguous flag is clean.

    Gold is an SME's word: neither the agreement floor nor an ambiguous flag keeps it out.
    """
    if source not in policy.sources:
        return False
    if source == "gold":
        return True
    if policy.exclude_ambiguous and ambiguous:
        return False
    if agreement is None:  # unknown agreement passes only when no floor is asked for
        return policy.min_agreement <= 0
    return agreement + 1e-9 >= policy.min_agreement


def split_rank(seed: str, external_id: str) -> bytes:
    """The order new examples of a stratum take their splits in: SHA-256 of (seed, 0x1F,
    external_id). PostgreSQL computes the same bytes (`sha256(convert_to(...))`) to sort in SQL."""
    return hashlib.sha256(f"{seed}\x1f{external_id}".encode()).digest()


class SplitAssigner:
    """Splits handed out one example at a time, in a stream.

    Feed each stratum's examples that keep a previous split first, then its new ones in
    `split_rank` order: a kept example keeps its split, a new one goes to the split furthest below
    its share of the stratum so far (ties: train, dev, test), so every stratum's counts stay within
    one example of the ratios. Only the counts per stratum are held, never the examples.
    """

    def __init__(self, ratios: tuple[float, float, float]):
        self.ratios = tuple(ratios)
        self.counts: dict[Any, list[int]] = {}

    def assign(self, stratum: Any, previous: str | None) -> str:
        count = self.counts.get(stratum)
        if count is None:
            count = self.counts[stratum] = [0, 0, 0]
        if previous in SPLITS:
            count[SPLITS.index(previous)] += 1
            return previous
        total = count[0] + count[1] + count[2] + 1
        r0, r1, r2 = self.ratios
        # The same arithmetic as max(SPLITS, key=(ratio * total - count, -index)).
        d0, d1, d2 = r0 * total - count[0], r1 * total - count[1], r2 * total - count[2]
        index = 0 if d0 >= d1 and d0 >= d2 else (1 if d1 >= d2 else 2)
        count[index] += 1
        return SPLITS[index]


def splits_assign(
    *,
    items: Iterable[tuple[str, Any]],
    previous: Mapping[str, str],
    ratios: tuple[float, float, float],
    seed: str,
) -> dict[str, str]:
    """{external_id: split} for `items` (external_id, stratum), all at once (SplitAssigner's rule).

    The outcome does not depend on the input order.
    """
    keyed = sorted(
        (stratum_key(stratum), previous.get(eid) not in SPLITS, split_rank(seed, eid), eid, stratum)
        for eid, stratum in items
    )
    assigner = SplitAssigner(ratios)
    return {eid: assigner.assign(stratum, previous.get(eid)) for _, _, _, eid, stratum in keyed}


def stratum_key(stratum: Any) -> str:
    """A sortable stand-in for a stratum (any hashable): strata only need to be told apart."""
    return repr(stratum)


def rater_pseudonym(*, key: bytes, user_id: int) -> str:
    """A stable pseudonymous rater id: no username, the same in every release of the project."""
    return "r_" + hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:10]


def agreement_text(value: float | None) -> str | None:
    """The agreement as released: a fixed 4-decimal number, as PostgreSQL's round(x::numeric, 4)."""
    if value is None:
        return None
    return str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-AGREEMENT_DECIMALS)))


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return (len(raw), raw)


def jsonb_text(value: Any) -> str:
    """`value` in PostgreSQL's jsonb text form. Decimal prints as is (numbers we emit are ints or
    fixed-point Decimals; floats are not emitted, so float formatting never has to match)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        # Only metadata read on SQLite gets here; PostgreSQL's path embeds its own jsonb text.
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        parts = (
            f"{jsonb_text(str(k))}: {jsonb_text(v)}"
            for k, v in sorted(value.items(), key=lambda kv: _key_order(str(kv[0])))
        )
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    raise TypeError(f"cannot serialise {type(value).__name__}")


def spans_label_text(spans: Sequence[Sequence]) -> str:
    """A span answer as one text, what a release item's `label` holds so diffs compare it:
    "start:end:label" per span in order, joined by "|" ("0:12:PER|17:24:ORG"; "" for none)."""
    return "|".join(f"{start}:{end}:{label}" for start, end, label in spans)


def span_objects(spans: Sequence[Sequence]) -> list[dict]:
    """Sorted [start, end, label] spans as the release files give them (spaCy's key names)."""
    return [{"start": start, "end": end, "label": label} for start, end, label in spans]


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula: a leading =, +, -, @, tab or CR
    gets a single quote in front."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


CSV_COLUMNS = (
    "external_id", "text", "label", "source", "split", "agreement", "n_raters",
    "guideline_versions", "metadata",
)  # fmt: skip


def json_array_chunks(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The JSONL file's blocks rewritten as one JSON array, streaming: "[\n", the lines joined by
    ",\n", "\n]\n". Safe on raw bytes because a JSON line never holds a raw newline byte."""
    yield b"[\n"
    pending = b""
    for block in blocks:
        data = pending + block
        if not data:
            continue
        pending = data[-1:]  # held back: the file's last newline must not get a comma
        yield data[:-1].replace(b"\n", b",\n")
    yield pending + b"]\n"


def json_array_size(*, jsonl_bytes: int, n_lines: int) -> int:
    """The size of json_array_chunks' output for a JSONL file of `jsonl_bytes` and `n_lines`."""
    return jsonl_bytes + max(n_lines - 1, 0) + 4
