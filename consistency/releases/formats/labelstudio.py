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
A span release's annotations are `labels` results instead (a Labels control `label`; see
label_config): one per span, `value` {start, end, text, labels: [name]} with the offsets counted
in UTF-16 code units as Label Studio (JavaScript) counts them; no entities is an annotation with
an empty result.
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


def label_config(label_names: Iterable[str], *, spans: bool = False) -> str:
    """The Label Studio labeling config the tasks fit (for the project one imports them into)."""
    from xml.sax.saxutils import quoteattr

    if spans:
        labels = "".join(f"\n    <Label value={quoteattr(name)}/>" for name in label_names)
        return (
            f'<View>\n  <Labels name="{FROM_NAME}" toName="{TO_NAME}">{labels}\n  </Labels>\n'
            f'  <Text name="{TO_NAME}" value="$text"/>\n</View>\n'
        )
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


def _utf16(text: str, offset: int) -> int:
    """A code point offset into `text` in UTF-16 code units."""
    return offset + sum(1 for char in text[:offset] if ord(char) > 0xFFFF)


def _span_annotation(spans: list[dict], text: str, user_id: int, *, ground_truth: bool) -> dict:
    result = [
        {
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "type": "labels",
            "value": {
                "start": _utf16(text, span["start"]),
                "end": _utf16(text, span["end"]),
                "text": text[span["start"] : span["end"]],
                "labels": [span["label"]],
            },
        }
        for span in spans
    ]
    return {"completed_by": user_id, "ground_truth": ground_truth, "was_cancelled": False, "result": result}


def task(line: dict, *, release_tag: str) -> dict:
    metadata = dict(line.get("metadata") or {})
    meta = {key: line[key] for key in META_FIELDS if key in line}
    meta["release"] = release_tag
    if "text" in metadata:
        meta["metadata_text"] = metadata.pop("text")
    text = line.get("text") or ""
    spans = "spans" in line

    def annotation(answer, user_id: int, *, ground_truth: bool) -> dict:
        if spans:
            return _span_annotation(answer, text, user_id, ground_truth=ground_truth)
        return _annotation(answer, user_id, ground_truth=ground_truth)

    answer = line["spans"] if spans else line["label"]
    annotations = [annotation(answer, CONSENSUS_USER_ID, ground_truth=True)]
    raters = line.get("raters")
    if raters:
        meta["raters"] = raters
        annotations += [
            annotation(raters[pseudonym], rater_user_id(pseudonym), ground_truth=False)
            for pseudonym in sorted(raters)
        ]
    return {
        "id": line["external_id"],
        "data": {"text": text, **metadata},
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
