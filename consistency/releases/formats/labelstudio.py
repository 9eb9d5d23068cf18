"""A release as Label Studio tasks (a JSON array, as Label Studio exports and imports them), so a
team can take its clean labels back there, or into another Concord project.

Each task: `id` the external id; `data` the text and the metadata fields (a metadata field named
"text" cannot share `data` with the text: it goes to `meta.metadata_text`); `meta` what the release
says about the example (source, split, agreement, raters, guideline versions, tag). Annotations
are choices results of the control `label` on `text` (the labeling config is LABEL_CONFIG):
- the released label, by user CONSENSUS_USER_ID (0; Label Studio's own users start at 1), marked
  `ground_truth`;
- when the release includes raters' labels, one annotation per rater, by the user id the rater's
  pseudonym spells in hex (`r_00ff...` -> 0x00ff... + 1): the same rater is the same user in
  every release of the project.
Importing the file into Concord (`import_annotations --format labelstudio`) gives each example the
released label from the account `labelstudio-0`, and each rater's label from `labelstudio-<id>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO

from consistency.releases.formats import SPLITS

CONSENSUS_USER_ID = 0
FROM_NAME = "label"
TO_NAME = "text"
META_FIELDS = ("source", "split", "agreement", "n_raters", "guideline_versions", "rationale")


def label_config(label_names: Iterable[str]) -> str:
    """The Label Studio labeling config the tasks fit (for the project one imports them into)."""
    from xml.sax.saxutils import quoteattr

    choices = "".join(f"\n    <Choice value={quoteattr(name)}/>" for name in label_names)
    return (
        f'<View>\n  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single">{choices}\n  </Choices>\n</View>\n'
    )


def rater_user_id(pseudonym: str) -> int:
    """The Label Studio user id of a rater pseudonym ("r_" and hex digits); never 0."""
    return int(pseudonym.removeprefix("r_"), 16) + 1


def _annotation(label: str | list[str], user_id: int, *, ground_truth: bool) -> dict:
    return {
        "completed_by": user_id,
        "ground_truth": ground_truth,
        "was_cancelled": False,
        "result": [
            {
                "from_name": FROM_NAME,
                "to_name": TO_NAME,
                "type": "choices",
                "value": {"choices": label if isinstance(label, list) else [label]},
            }
        ],
    }


def task(line: dict, *, release_tag: str) -> dict:
    metadata = dict(line.get("metadata") or {})
    meta = {key: line[key] for key in META_FIELDS if key in line}
    meta["release"] = release_tag
    if "text" in metadata:
        meta["metadata_text"] = metadata.pop("text")
    annotations = [_annotation(line["label"], CONSENSUS_USER_ID, ground_truth=True)]
    raters = line.get("raters")
    if raters:
        meta["raters"] = raters
        annotations += [
            _annotation(raters[pseudonym], rater_user_id(pseudonym), ground_truth=False)
            for pseudonym in sorted(raters)
        ]
    return {
        "id": line["external_id"],
        "data": {"text": line.get("text") or "", **metadata},
        "meta": meta,
        "annotations": annotations,
        "predictions": [],
    }


def labelstudio_write(lines: Iterable[dict], *, release_tag: str, out: IO[bytes]) -> dict[str, int]:
    """Write the tasks as one JSON array, a task per line. Returns tasks per split."""
    counts = dict.fromkeys(SPLITS, 0)
    out.write(b"[")
    separator = b"\n"
    for line in lines:
        out.write(separator)
        out.write(json.dumps(task(line, release_tag=release_tag), ensure_ascii=False).encode("utf-8"))
        separator = b",\n"
        counts[line["split"]] = counts.get(line["split"], 0) + 1
    out.write(b"\n]\n")
    return counts
