"""Writers of the files derived from a release's canonical JSONL for other tools: Parquet (one file
per split), a Hugging Face dataset (card and data files in a zip) and Label Studio tasks.

Pure: each reads release lines (dicts, as `jsonl_records` yields them from the stored file) and
writes to binary files it is given; storage and caching are consistency.releases.exports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

SPLITS = ("train", "dev", "test")


def jsonl_records(blocks: Iterable[bytes]) -> Iterator[dict]:
    """The release's lines as dicts, read from its JSONL file block by block (never whole)."""
    pending = b""
    for block in blocks:
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if pending.strip():
        yield json.loads(pending)
