"""A word-level diff of two guideline versions' Markdown source, as safe HTML: every piece of
text is escaped first, then changes are wrapped in <ins>/<del>. Pure: no ORM."""

import difflib
import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Words and the whitespace between them are separate tokens, so a changed word does not drag
# its neighbours into the change and line breaks survive.
TOKEN = re.compile(r"\s+|[^\s]+")


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text.replace("\r\n", "\n"))


def diff_html(old: str, new: str) -> SafeString:
    """HTML for the changes from `old` to `new`: unchanged text as is, removed text in <del>,
    added text in <ins>. All text is escaped, so Markdown or HTML in the guideline is shown as
    source, never interpreted."""
    a, b = _tokens(old or ""), _tokens(new or "")
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece escaped above


def diff_stats(old: str, new: str) -> dict[str, int]:
    """Words added and removed, for a one-line summary."""
    a, b = _tokens(old or ""), _tokens(new or "")
    added = removed = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            removed += sum(1 for t in a[i1:i2] if not t.isspace())
        if op in ("insert", "replace"):
            added += sum(1 for t in b[j1:j2] if not t.isspace())
    return {"added": added, "removed": removed}
