"""A span release as CoNLL-style BIO: one token per line, `token<TAB>tag`, for NER tools.

Each example starts with two comment lines, `# id = <external id>` and `# split = <split>` (one
file holds every split), then its tokens, then a blank line. Tokens are Concord's tokens
(labeling.spans.token_offsets: runs of word characters, or one other non-space character), the
same the labeling page moves by and token-level agreement counts. Tags:

- `B-<label>` on the first token of a span, `I-<label>` on its other tokens, `O` elsewhere;
- a token belongs to a span when it overlaps it: a span that does not fall on token boundaries
  (it starts or ends inside a word) tags every token it touches;
- where spans nest, a token takes the outermost span (the one starting first, then the longest;
  also when two spans that do not overlap each other touch the same token), so the inner spans
  are not in this file: the JSONL and Parquet files keep them;
- two spans next to each other start with their own `B-`, whatever their labels;
- a label's whitespace becomes `_` in its tag (`B-error_code`): CoNLL readers split lines on
  whitespace, so a tag may hold none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO

from labeling.spans import token_offsets

FLUSH_BYTES = 256 * 1024


def bio_tags(text: str, spans: Sequence[Sequence]) -> list[tuple[str, str]]:
    """(token, tag) for each token of `text`, with `spans` ([start, end, label], code points)."""
    ranked = sorted(spans, key=lambda span: (span[0], -span[1]))
    tagged: list[tuple[str, str]] = []
    active: list[int] = []  # indexes into ranked of the spans started before the token's end
    following = 0
    previous = None
    for start, end in token_offsets(text):
        while following < len(ranked) and ranked[following][0] < end:
            active.append(following)
            following += 1
        active = [index for index in active if ranked[index][1] > start]
        if not active:
            tagged.append((text[start:end], "O"))
            previous = None
            continue
        outermost = min(active)  # ranked by (start, -end): the first is the outermost
        prefix = "I" if outermost == previous else "B"
        tagged.append((text[start:end], f"{prefix}-{ranked[outermost][2]}"))
        previous = outermost
    return tagged


def _tag_name(label: str) -> str:
    return "_".join(str(label).split())


def _one_line(value: str) -> str:
    return " ".join(str(value).splitlines())


def conll_write(lines: Iterable[dict], *, out: IO[bytes]) -> int:
    """Write the release's lines (with `spans` as {"start", "end", "label"}) as BIO; returns the
    number of examples."""
    n = 0
    parts: list[str] = []
    size = 0
    for line in lines:
        spans = [(span["start"], span["end"], _tag_name(span["label"])) for span in line.get("spans") or ()]
        block = [f"# id = {_one_line(line['external_id'])}\n# split = {line.get('split', '')}\n"]
        block += [f"{token}\t{tag}\n" for token, tag in bio_tags(line.get("text") or "", spans)]
        block.append("\n")
        text = "".join(block)
        parts.append(text)
        size += len(text)
        n += 1
        if size >= FLUSH_BYTES:
            out.write("".join(parts).encode())
            parts, size = [], 0
    out.write("".join(parts).encode())
    return n
