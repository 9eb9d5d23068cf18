"""Span answers (named entities) checked against their text, as pure functions: no ORM here.

A span answer is a list of character spans over an example's text. Offsets count Unicode code
points (Python's `str` indexing, spaCy's convention), end exclusive. Tools written in JavaScript
(Label Studio, a browser) count UTF-16 code units instead, where a character outside the Basic
Multilingual Plane (an emoji) takes two; `utf16_to_code_points` converts, and refuses an offset
that falls between the two halves of such a character.

Stored form: a sorted list of ``[start, end, label_id]``. Within one annotation no span appears
twice, and unless the project lets spans nest, no two spans overlap. Spans nest when one holds the
other; they cross when they overlap without either holding the other, which is never allowed
(a crossing pair is not an entity structure any export format can carry).

Errors name the span and field, ``spans[2].end``, so an import can say the line and field and the
labeling API the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

SPAN_LIMIT = 1000  # spans in one annotation

# Concord's one tokenizer for spans: runs of word characters, or one other non-space character.
# The labeling page moves its cursor by these tokens, token-level agreement counts them, and the
# BIO export tags them.
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")


def token_offsets(text: str) -> list[tuple[int, int]]:
    """The tokens of `text` as (start, end) code point offsets, in order."""
    return [(match.start(), match.end()) for match in TOKEN_PATTERN.finditer(text)]


def text_pieces(text: str) -> list[tuple[str, int | None, int | None]]:
    """`text` cut into its tokens and the whitespace between them, in order, as (piece, start,
    end): offsets for a token, None for whitespace. The pieces joined are the text; the labeling
    page renders one element per token, so the script selects by these offsets and never counts
    characters itself."""
    pieces: list[tuple[str, int | None, int | None]] = []
    at = 0
    for start, end in token_offsets(text):
        if start > at:
            pieces.append((text[at:start], None, None))
        pieces.append((text[start:end], start, end))
        at = end
    if at < len(text):
        pieces.append((text[at:], None, None))
    return pieces


class SpanError(ValueError):
    """One fault in a span answer: `field` names where (``spans`` or ``spans[i].start``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SpanError(field, f"{field} must be a whole number of characters.")
    if isinstance(value, str):
        if not value.strip().lstrip("-").isdigit():
            raise SpanError(field, f"{field} must be a whole number of characters, not {value[:40]!r}.")
        value = int(value.strip())
    return value


def _parts(span: Any, field: str) -> tuple[Any, Any, Any]:
    if isinstance(span, Mapping):
        missing = [key for key in ("start", "end", "label") if key not in span]
        if missing:
            raise SpanError(
                f"{field}.{missing[0]}", f"{field} needs start, end and label ({missing[0]} is missing)."
            )
        return span["start"], span["end"], span["label"]
    if isinstance(span, list | tuple) and len(span) == 3:
        return span[0], span[1], span[2]
    raise SpanError(field, f'{field} must be an object {{"start": 0, "end": 5, "label": "PRODUCT"}}.')


def utf16_to_code_points(text: str) -> list[int | None]:
    """For each UTF-16 offset 0..len16(text), the code point offset it stands for (None where it
    falls between the two halves of a surrogate pair)."""
    table: list[int | None] = []
    for index, char in enumerate(text):
        table.append(index)
        if ord(char) > 0xFFFF:
            table.append(None)
    table.append(len(text))
    return table


def spans_clean(
    text: str,
    spans: Any,
    *,
    labels: Mapping[str, int],
    may_nest: bool,
    utf16: bool = False,
) -> list[list[int]]:
    """`spans` checked against `text` and the project's labels, in stored form (sorted
    ``[start, end, label_id]``).

    Each span is ``{"start", "end", "label"}`` (or a ``[start, end, label]`` triple); `labels`
    maps every accepted way of naming a label (its name, its id as text) to its id. With `utf16`
    the offsets count UTF-16 code units and are converted. A span object may carry the `text` it
    covers; when it does, that must be the text at its offsets (which catches offsets counted in
    another unit). Raises SpanError for the first fault:
    not a list, offsets that are not whole numbers, outside the text or with start >= end, an offset
    inside a surrogate pair, a label not in the project, a span given twice, spans that cross, or
    spans that overlap at all when the project does not let them nest.
    """
    if isinstance(spans, str | bytes | Mapping) or not isinstance(spans, Iterable):
        raise SpanError("spans", 'Give the spans as a list, [] for "no entities".')
    spans = list(spans)
    if len(spans) > SPAN_LIMIT:
        raise SpanError("spans", f"At most {SPAN_LIMIT} spans per example ({len(spans)} given).")
    table = utf16_to_code_points(text) if utf16 else None
    size = len(table) - 1 if table is not None else len(text)
    unit = "UTF-16 code units" if utf16 else "characters"
    cleaned: list[list[int]] = []
    for index, span in enumerate(spans):
        field = f"spans[{index}]"
        raw_start, raw_end, raw_label = _parts(span, field)
        start = _int(raw_start, f"{field}.start")
        end = _int(raw_end, f"{field}.end")
        if start < 0 or start > size:
            raise SpanError(
                f"{field}.start", f"{field}.start {start} is outside the text (0 to {size} {unit})."
            )
        if end < 0 or end > size:
            raise SpanError(f"{field}.end", f"{field}.end {end} is outside the text (0 to {size} {unit}).")
        if start >= end:
            raise SpanError(f"{field}.end", f"{field} ends ({end}) at or before it starts ({start}).")
        if table is not None:
            for name, offset in (("start", start), ("end", end)):
                if table[offset] is None:
                    raise SpanError(
                        f"{field}.{name}",
                        f"{field}.{name} {offset} falls inside a character written as a surrogate pair"
                        " (such as an emoji); offsets must fall between characters.",
                    )
            start, end = table[start], table[end]
        given = span.get("text") if isinstance(span, Mapping) else None
        if isinstance(given, str) and given != text[start:end]:
            raise SpanError(
                f"{field}.text",
                f"{field}.text {given[:60]!r} is not the text at {start}..{end} ({text[start:end][:60]!r});"
                " offsets count characters (code points: an emoji is one).",
            )
        label = labels.get(str(raw_label).strip()) if isinstance(raw_label, str | int) else None
        if label is None or isinstance(raw_label, bool):
            raise SpanError(
                f"{field}.label",
                f"{field}.label {str(raw_label)[:100]!r} is not one of this project's labels.",
            )
        cleaned.append([start, end, label])
    _check_structure(cleaned, may_nest=may_nest, order=list(range(len(cleaned))))
    return sorted(cleaned)


def _check_structure(spans: list[list[int]], *, may_nest: bool, order: list[int]) -> None:
    """Refuse a span given twice, crossing spans, and any overlap where spans may not nest.
    Sorted by start (longest first), each span need only be checked against the open spans."""
    ranked = sorted(zip(spans, order, strict=True), key=lambda pair: (pair[0][0], -pair[0][1], pair[0][2]))
    open_spans: list[tuple[list[int], int]] = []
    previous: list[int] | None = None
    for span, index in ranked:
        if span == previous:
            raise SpanError(f"spans[{index}]", f"spans[{index}] is given twice; give each span once.")
        previous = span
        open_spans = [(other, i) for other, i in open_spans if other[1] > span[0]]
        for other, i in open_spans:
            first, second = sorted((i, index))
            if span[1] > other[1]:
                raise SpanError(
                    f"spans[{second}]",
                    f"spans[{first}] and spans[{second}] cross (each starts inside the other);"
                    " spans may nest but not cross.",
                )
            if not may_nest:
                raise SpanError(
                    f"spans[{second}]",
                    f"spans[{first}] and spans[{second}] overlap; this project does not let spans nest.",
                )
        open_spans.append((span, index))
