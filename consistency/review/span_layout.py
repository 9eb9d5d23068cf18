"""How an SME sees span answers, as pure functions (no ORM): the text cut into short lines with
every row's spans on each line (so the raters' boundaries line up one under the other), the
candidate spans with how many raters marked each, the extra spans an SME types (`start end label`
per line), and a span answer written as Markdown for a worked example.

Spans are ``(start, end, label_id)`` in code points, end exclusive, as stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

LINE_WIDTH = 80  # characters per aligned line: every row of a line holds the same characters
PALETTE_SIZE = 8  # label colours cycle through app.css's .label-c0 .. .label-c7

Span = tuple[int, int, int]


def spans_of(value) -> list[Span]:
    """Stored spans (JSON lists) as tuples; None (not a span answer) as []."""
    return [(int(s), int(e), int(label)) for s, e, label in (value or ())]


def text_lines(text: str, width: int = LINE_WIDTH) -> list[tuple[int, int]]:
    """`text` cut into lines of at most `width` characters, as (start, end) offsets: at line
    breaks, else after the last space that fits, else mid-word. The line break itself belongs
    to no line; every other character belongs to exactly one."""
    lines: list[tuple[int, int]] = []
    position = 0
    for paragraph in text.split("\n"):
        start, end = position, position + len(paragraph)
        while end - start > width:
            cut = text.rfind(" ", start, start + width)
            cut = cut + 1 if cut > start else start + width
            lines.append((start, cut))
            start = cut
        lines.append((start, end))
        position = end + 1
    return lines if text else []


@dataclass(frozen=True)
class Segment:
    """A run of one line whose characters are covered by the same spans (outermost first)."""

    text: str
    spans: tuple[Span, ...] = ()
    opens: bool = False  # the innermost span starts here
    closes: bool = False  # the innermost span ends here

    @property
    def span(self) -> Span | None:
        return self.spans[-1] if self.spans else None

    @property
    def nested(self) -> bool:
        return len(self.spans) > 1


def line_segments(text: str, line: tuple[int, int], spans: Sequence[Span]) -> list[Segment]:
    """The segments of `line` for one row's spans (a span crossing the line's edge is cut there)."""
    start, end = line
    inside = [span for span in spans if span[0] < end and span[1] > start]
    cuts = sorted({start, end} | {o for s, e, _ in inside for o in (s, e) if start < o < end})
    segments = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        covering = tuple(sorted((span for span in inside if span[0] <= a and span[1] >= b), key=_outer_first))
        innermost = covering[-1] if covering else None
        segments.append(
            Segment(
                text=text[a:b],
                spans=covering,
                opens=innermost is not None and innermost[0] == a,
                closes=innermost is not None and innermost[1] == b,
            )
        )
    return segments


def _outer_first(span: Span) -> tuple[int, int, int]:
    return (span[0], -span[1], span[2])


@dataclass
class Candidate:
    """One span some row holds, with the raters who marked it."""

    span: Span
    raters: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return span_key(self.span)


def span_key(span: Span) -> str:
    return f"{span[0]}:{span[1]}:{span[2]}"


SPAN_KEY = re.compile(r"(\d{1,9}):(\d{1,9}):(\d{1,12})")


def span_from_key(key: str) -> Span | None:
    match = SPAN_KEY.fullmatch(key.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def candidates(votes: Sequence[tuple[str, Sequence[Span]]], extra: Sequence[Span] = ()) -> list[Candidate]:
    """The union of every rater's spans (and `extra` spans nobody marked, such as the current
    decision's), in text order, each with the raters who marked it."""
    by_span: dict[Span, Candidate] = {}
    for rater, spans in votes:
        for span in spans:
            by_span.setdefault(span, Candidate(span)).raters.append(rater)
    for span in extra:
        by_span.setdefault(span, Candidate(span))
    return [by_span[span] for span in sorted(by_span, key=_outer_first)]


def majority(votes: Sequence[Sequence[Span]]) -> list[Span]:
    """The spans more than half of the raters marked (exact match), in text order."""
    counts: dict[Span, int] = {}
    for spans in votes:
        for span in set(spans):
            counts[span] = counts.get(span, 0) + 1
    return sorted((span for span, n in counts.items() if 2 * n > len(votes)), key=_outer_first)


def contested(votes: Sequence[Sequence[Span]]) -> int:
    """How many spans some raters marked and others did not."""
    counts: dict[Span, int] = {}
    for spans in votes:
        for span in set(spans):
            counts[span] = counts.get(span, 0) + 1
    return sum(1 for n in counts.values() if n < len(votes))


# --------------------------------------------------------------------------------------------------
# Extra spans typed by the SME: one `start end label` per line


@dataclass(frozen=True)
class TypedSpan:
    line: int
    start: int
    end: int
    label: str


EXTRA_SPANS_EXAMPLE = "0 5 ORG"


def typed_spans_parse(value: str) -> tuple[list[TypedSpan], list[str]]:
    """The spans typed one per line as `start end label` (the label is the rest of the line, its
    name or id; blank lines are skipped), and the errors, each naming its line."""
    spans, errors = [], []
    for number, raw in enumerate((value or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(None, 2)
        where = f"Extra spans, line {number}:"
        if len(parts) < 3:
            errors.append(f"{where} write start, end and label, e.g. \u201c{EXTRA_SPANS_EXAMPLE}\u201d.")
            continue
        offsets = []
        for name, part in zip(("start", "end"), parts[:2], strict=True):
            if not part.isdigit() or len(part) > 9:
                errors.append(f"{where} the {name} {part[:20]!r} is not a whole number of characters.")
            else:
                offsets.append(int(part))
        if len(offsets) == 2:
            spans.append(TypedSpan(line=number, start=offsets[0], end=offsets[1], label=parts[2].strip()))
    return spans, errors


# --------------------------------------------------------------------------------------------------
# A span answer as Markdown, for the worked example in the guideline draft

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&~|!#])")
CONTEXT = 60  # characters kept around the spans of a long text


def _markdown_text(text: str) -> str:
    return MARKDOWN_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text))


def _shorten(text: str, *, keep_start: bool, keep_end: bool) -> str:
    if len(text) <= 2 * CONTEXT + 10:
        return text
    head = text[:CONTEXT] if keep_start else ""
    tail = text[-CONTEXT:] if keep_end else ""
    return f"{head}\u2026{tail}"


def spans_markdown(text: str, spans: Sequence[Span], names: Mapping[int, str]) -> str:
    """`text` on one line with each outermost span in bold followed by its label as code
    ("**Ada Lovelace** `PERSON` met ..."); spans nested inside another are listed after it.
    Long stretches between spans are shortened; Markdown characters in the text are escaped."""
    outer: list[Span] = []
    for span in sorted(spans, key=_outer_first):
        if not outer or span[0] >= outer[-1][1]:
            outer.append(span)
    parts, position = [], 0
    for index, (start, end, label) in enumerate(outer):
        gap = text[position:start]
        parts.append(_markdown_text(_shorten(gap, keep_start=index > 0, keep_end=True)))
        inner = [s for s in spans if s != (start, end, label) and start <= s[0] and s[1] <= end]
        parts.append(_entity(text, (start, end, label), names))
        if inner:
            listed = ", ".join(_entity(text, s, names) for s in sorted(inner, key=_outer_first))
            parts.append(f" (holding {listed})")
        position = end
    parts.append(_markdown_text(_shorten(text[position:], keep_start=True, keep_end=not outer)))
    return "".join(parts).strip()


def _entity(text: str, span: Span, names: Mapping[int, str]) -> str:
    shown = _markdown_text(text[span[0] : span[1]]).strip() or "\u2423"
    name = names.get(span[2], "?").replace("`", "'")
    return f"**{shown}** `{name}`"
