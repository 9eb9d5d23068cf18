"""A word-level diff of two guideline versions' Markdown source, as safe HTML: every piece of
text is escaped first, then changes are wrapped in <ins>/<del>. Pure: no ORM.

Its cost grows near-linearly with the text, whatever the text: lines are compared first and only
changed lines are compared word by word, both with an anchored ("patience") diff. Tokens that
occur once on each side and in the same order anchor the match; the gaps between anchors are
diffed the same way to a bounded depth, and what is left (gaps with no unique token, such as a
run of repeated lines) gets an exact edit script (Myers) only within a fixed budget of work per
token, and is otherwise shown as replaced. The result is always a correct diff; it may be
coarser than the shortest one on pathological input, never slower.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Words and the whitespace between them are separate tokens, so a changed word does not drag
# its neighbours into the change and line breaks survive.
TOKEN = re.compile(r"\s+|[^\s]+")
LINE = re.compile(r"[^\n]*\n|[^\n]+")

# Anchoring rounds below which gaps still look for unique tokens; each round costs one pass over
# the text, and real edits settle in a few.
MAX_ANCHOR_DEPTH = 16
# Edit-script work allowed per token for the gaps anchoring cannot split (Myers is O(n * d)).
EDIT_WORK_PER_TOKEN = 10
EDIT_WORK_MINIMUM = 20_000

Block = tuple[int, int, int]  # a[i:i + n] == b[j:j + n]
Opcode = tuple[str, int, int, int, int]  # as difflib's get_opcodes()


@dataclass(frozen=True)
class GuidelineDiff:
    html: SafeString
    added: int
    removed: int

    @property
    def stats(self) -> dict[str, int]:
        """Words added and removed, for a one-line summary."""
        return {"added": self.added, "removed": self.removed}


def diff_guideline_text(old: str, new: str) -> GuidelineDiff:
    """The changes from `old` to `new`: unchanged text as is, removed text in <del>, added text
    in <ins>, with word counts. All text is escaped, so Markdown or HTML in the guideline is
    shown as source, never interpreted."""
    old_lines = LINE.findall(_normalise(old))
    new_lines = LINE.findall(_normalise(new))
    parts: list[str] = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in sequence_opcodes(old_lines, new_lines):
        if tag == "equal":
            parts.append(escape("".join(old_lines[i1:i2])))
            continue
        words_a = TOKEN.findall("".join(old_lines[i1:i2]))
        words_b = TOKEN.findall("".join(new_lines[j1:j2]))
        for op, k1, k2, l1, l2 in sequence_opcodes(words_a, words_b):
            if op == "equal":
                parts.append(escape("".join(words_a[k1:k2])))
                continue
            if op in ("delete", "replace"):
                parts.append(f"<del>{escape(''.join(words_a[k1:k2]))}</del>")
                removed += sum(1 for t in words_a[k1:k2] if not t.isspace())
            if op in ("insert", "replace"):
                parts.append(f"<ins>{escape(''.join(words_b[l1:l2]))}</ins>")
                added += sum(1 for t in words_b[l1:l2] if not t.isspace())
    return GuidelineDiff(html=mark_safe("".join(parts)), added=added, removed=removed)  # noqa: S308 - every piece escaped above


def _normalise(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n")


def sequence_opcodes(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """difflib-style opcodes turning `a` into `b`, in near-linear time (see the module doc)."""
    ids: dict[str, int] = {}
    ia = [ids.setdefault(token, len(ids)) for token in a]
    ib = [ids.setdefault(token, len(ids)) for token in b]
    budget = [max(EDIT_WORK_MINIMUM, EDIT_WORK_PER_TOKEN * (len(ia) + len(ib)))]
    blocks = sorted(_matching_blocks(ia, ib, budget))
    return _opcodes(blocks, len(ia), len(ib))


def _matching_blocks(a: list[int], b: list[int], budget: list[int]) -> list[Block]:
    blocks: list[Block] = []
    gaps = [(0, len(a), 0, len(b), 0)]
    while gaps:
        alo, ahi, blo, bhi, depth = gaps.pop()
        n = 0
        while alo + n < ahi and blo + n < bhi and a[alo + n] == b[blo + n]:
            n += 1
        if n:
            blocks.append((alo, blo, n))
            alo, blo = alo + n, blo + n
        n = 0
        while ahi - n > alo and bhi - n > blo and a[ahi - n - 1] == b[bhi - n - 1]:
            n += 1
        if n:
            blocks.append((ahi - n, bhi - n, n))
            ahi, bhi = ahi - n, bhi - n
        if alo == ahi or blo == bhi:
            continue
        shared, anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if not shared:
            continue  # nothing in common: all of it is replaced
        if not anchors or depth >= MAX_ANCHOR_DEPTH:
            blocks.extend(_edit_script_blocks(a, alo, ahi, b, blo, bhi, budget))
            continue
        i0, j0 = alo, blo
        for i, j in anchors:
            gaps.append((i0, i, j0, j, depth + 1))
            blocks.append((i, j, 1))
            i0, j0 = i + 1, j + 1
        gaps.append((i0, ahi, j0, bhi, depth + 1))
    return blocks


def _unique_anchors(
    a: list[int], alo: int, ahi: int, b: list[int], blo: int, bhi: int
) -> tuple[bool, list[tuple[int, int]]]:
    """Whether the two ranges share any token, and the pairs (i, j) of tokens that occur exactly
    once in a[alo:ahi] and once in b[blo:bhi]: the longest run of them in the same order on both
    sides (patience sorting, O(k log k))."""
    count_a = Counter(a[alo:ahi])
    count_b = Counter(b[blo:bhi])
    if count_a.keys().isdisjoint(count_b.keys()):
        return False, []
    position_b = {b[j]: j for j in range(blo, bhi) if count_b[b[j]] == 1 and count_a.get(b[j]) == 1}
    if not position_b:
        return True, []
    pairs = [(i, position_b[a[i]]) for i in range(alo, ahi) if a[i] in position_b]
    # Longest increasing subsequence of j over pairs ordered by i.
    tails: list[int] = []  # tails[k]: smallest j ending an increasing run of length k + 1
    tail_index: list[int] = []
    previous: list[int] = []
    for index, (_i, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_index.append(index)
        else:
            tails[k] = j
            tail_index[k] = index
        previous.append(tail_index[k - 1] if k else -1)
    run: list[tuple[int, int]] = []
    index = tail_index[-1]
    while index != -1:
        run.append(pairs[index])
        index = previous[index]
    run.reverse()
    return True, run


def _edit_script_blocks(
    a: list[int], alo: int, ahi: int, b: list[int], blo: int, bhi: int, budget: list[int]
) -> list[Block]:
    """The matches of a shortest edit script (Myers' O(nd) greedy algorithm), or none (the gap is
    shown as replaced) once the shared work budget runs out."""
    n, m = ahi - alo, bhi - blo
    offset = n + m + 1
    frontier = [0] * (2 * offset + 1)  # furthest x on each diagonal k = x - y, at index k + offset
    trace: list[list[int]] = []
    for d in range(n + m + 1):
        budget[0] -= 2 * d + 1
        if budget[0] < 0:
            return []
        trace.append(frontier[offset - d : offset + d + 1])
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and frontier[offset + k - 1] < frontier[offset + k + 1]):
                x = frontier[offset + k + 1]
            else:
                x = frontier[offset + k - 1] + 1
            y = x - k
            start = x
            while x < n and y < m and a[alo + x] == b[blo + y]:
                x += 1
                y += 1
            budget[0] -= x - start
            frontier[offset + k] = x
            if x >= n and y >= m:
                return _backtrack(trace, d, k, x, alo, blo)
    return []


def _backtrack(trace: list[list[int]], d: int, k: int, x: int, alo: int, blo: int) -> list[Block]:
    """Walk the saved frontiers back from (x, x - k) at cost d, collecting the diagonal runs."""
    blocks: list[Block] = []
    while d > 0:
        before = trace[d]  # the frontier after step d - 1, for diagonals -d .. d
        down = k == -d or (k != d and before[k - 1 + d] < before[k + 1 + d])
        prev_k = k + 1 if down else k - 1
        prev_x = before[prev_k + d]
        start_x = prev_x if down else prev_x + 1
        if x > start_x:
            blocks.append((alo + start_x, blo + start_x - k, x - start_x))
        x, k, d = prev_x, prev_k, d - 1
    if x > 0:
        blocks.append((alo, blo, x))
    return blocks


def _opcodes(blocks: list[Block], len_a: int, len_b: int) -> list[Opcode]:
    """Sorted, non-overlapping matching blocks to difflib-style opcodes (adjacent blocks merged)."""
    opcodes: list[Opcode] = []
    i = j = 0
    for bi, bj, size in [*blocks, (len_a, len_b, 0)]:
        if i < bi and j < bj:
            opcodes.append(("replace", i, bi, j, bj))
        elif i < bi:
            opcodes.append(("delete", i, bi, j, bj))
        elif j < bj:
            opcodes.append(("insert", i, bi, j, bj))
        if size:
            if opcodes and opcodes[-1][0] == "equal":
                _tag, i1, _i2, j1, _j2 = opcodes.pop()
                opcodes.append(("equal", i1, bi + size, j1, bj + size))
            else:
                opcodes.append(("equal", bi, bi + size, bj, bj + size))
        i, j = bi + size, bj + size
    return opcodes
