"""A release as a Hugging Face `datasets` dataset: one zip holding `README.md` (a dataset card with
the YAML header `load_dataset` reads) and `data/<split>.parquet`, the Parquet files of the release.

The YAML names the split files (`configs`), so `load_dataset("<unzipped folder>")` gives the
splits train, dev and test (a split with no example is left out: it has no file), and declares
the features, with `label` a ClassLabel whose names are the release's labels (sorted). The card
lists the labels, the guideline versions, the agreement figures with their intervals and what
they rest on, the policy and the release's SHA-256. The zip is the same bytes every time it is
written from the same release (fixed entry dates and order).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa

from consistency.releases.formats import SPLITS

COEFFICIENTS = {
    "percent_agreement": "Percent agreement",
    "fleiss_kappa": "Fleiss' kappa",
    "krippendorff_alpha": "Krippendorff's alpha",
    "gwet_ac1": "Gwet's AC1",
}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
BLOCK_SIZE = 1024 * 1024


@dataclass
class CardFacts:
    """What the dataset card says, gathered by the caller from the release and its report."""

    project_name: str
    project_slug: str
    tag: str
    sha256: str
    created_at: str
    n_items: int
    policy: dict[str, Any]
    split_counts: dict[str, int]
    label_split: dict[str, dict[str, int]]
    guideline_in_force: int | None
    guideline_versions: list[int]
    report_id: int | None = None
    report_at: str = ""
    report: dict[str, Any] | None = None
    columns: list[str] = field(default_factory=list)


def _q(value: Any) -> str:
    """A YAML scalar: JSON's double-quoted strings and numbers are valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def _feature_lines(
    name: str, arrow_type: pa.DataType, indent: str, label_names: list[str], *, spans: bool = False
) -> list[str]:
    """One column's feature. The top-level `label` is a ClassLabel, except in a span release
    (`spans`), where it is the spans as text and each span's label is the ClassLabel."""
    lines = [f"{indent}- name: {_q(name)}"]
    inner = indent + "  "
    if name == "spans" and indent == "  ":
        lines.append(f"{inner}list:")
        lines += _feature_lines("start", pa.int64(), inner, label_names)
        lines += _feature_lines("end", pa.int64(), inner, label_names)
        return lines + [f"{inner}- name: {_q('label')}", *_class_label_lines(f"{inner}  ", label_names)]
    if name == "label" and indent == "  " and not spans:
        # A multi-label release's label is a list: a sequence of the same class labels.
        multi = pa.types.is_list(arrow_type)
        return lines + _class_label_lines(inner, label_names, sequence=multi)
    return lines + _type_lines(arrow_type, inner, label_names)


def _class_label_lines(indent: str, label_names: list[str], *, sequence: bool = False) -> list[str]:
    lines = [f"{indent}sequence:" if sequence else f"{indent}dtype:", f"{indent}  class_label:"]
    lines.append(f"{indent}    names:")
    return lines + [f"{indent}      {_q(str(n))}: {_q(label)}" for n, label in enumerate(label_names)]


def _type_lines(arrow_type: pa.DataType, indent: str, label_names: list[str]) -> list[str]:
    if pa.types.is_struct(arrow_type):
        lines = [f"{indent}struct:"]
        for child in arrow_type:
            lines += _feature_lines(child.name, child.type, indent, label_names)
        return lines
    if pa.types.is_list(arrow_type):
        value = arrow_type.value_type
        if pa.types.is_struct(value):
            lines = [f"{indent}list:"]
            for child in value:
                lines += _feature_lines(child.name, child.type, indent, label_names)
            return lines
        return [f"{indent}list: {_q(_dtype(value))}"]
    return [f"{indent}dtype: {_q(_dtype(arrow_type))}"]


def _dtype(arrow_type: pa.DataType) -> str:
    if pa.types.is_null(arrow_type):
        return "null"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_float64(arrow_type):
        return "float64"
    return str(arrow_type)  # string, int64


def _figure(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def _agreement_section(facts: CardFacts) -> list[str]:
    report = facts.report
    if not report:
        return ["No agreement report had been computed when this release was cut."]
    lines = [
        f"From agreement report #{facts.report_id} (computed {facts.report_at}), the latest when the "
        f"release was cut. It rests on {report.get('n_items', 0)} examples, "
        f"{report.get('n_items_overlap', 0)} of them rated by two or more raters, "
        f"{report.get('n_raters', 0)} raters and {report.get('n_annotations', 0)} annotations: all of "
        "the project's current annotations then, not only the released examples. Intervals are 95%.",
        "",
        "| coefficient | value | 95% interval |",
        "|---|---|---|",
    ]
    for key, name in COEFFICIENTS.items():
        figure = report.get(key) or {}
        ci = figure.get("ci95")
        if figure.get("value") is None:
            why = figure.get("message") or figure.get("reason") or "not computed"
            lines.append(f"| {name} | – | {why} |")
        else:
            interval = f"{_figure(ci[0])} to {_figure(ci[1])}" if ci else "–"
            lines.append(f"| {name} | {_figure(figure['value'])} | {interval} |")
    return lines


def _policy_text(policy: dict[str, Any]) -> list[str]:
    sources = ", ".join(policy.get("sources") or [])
    ratios = policy.get("ratios") or []
    lines = [
        f"- label sources: {sources}",
        f"- minimum agreement: {policy.get('min_agreement', 0)}",
        f"- examples a rater flagged ambiguous: {'left out' if policy.get('exclude_ambiguous') else 'kept'}",
        f"- SME rationale included: {'yes' if policy.get('include_rationale') else 'no'}",
        f"- raters' labels included (pseudonymous): {'yes' if policy.get('include_raters') else 'no'}",
    ]
    if "dawid_skene" in (policy.get("sources") or []) or policy.get("use_dawid_skene"):
        lines.append(f"- Dawid-Skene minimum posterior: {policy.get('min_posterior')}")
    if ratios:
        lines.append(f"- split ratios train/dev/test: {' / '.join(str(r) for r in ratios)}")
    lines.append(
        f"- stratified by: label{' and ' + policy['stratify_field'] if policy.get('stratify_field') else ''}"
    )
    lines += [
        "",
        "The policy as Concord records it:",
        "",
        "```json",
        json.dumps(policy, sort_keys=True),
        "```",
    ]
    return lines


def dataset_card(facts: CardFacts, *, schema: pa.Schema, label_names: list[str]) -> str:
    present = [split for split in SPLITS if facts.split_counts.get(split)]
    header = ["---", f"pretty_name: {_q(f'{facts.project_name} {facts.tag}')}", "configs:"]
    header += ["- config_name: default", "  data_files:"]
    for split in present:
        header += [f"  - split: {split}", f"    path: {_q(f'data/{split}.parquet')}"]
    header += ["dataset_info:", "  features:"]
    spans = "spans" in schema.names
    for column in schema:
        header += _feature_lines(column.name, column.type, "  ", label_names, spans=spans)
    header += ["---", ""]

    versions = ", ".join(str(v) for v in facts.guideline_versions) or "none recorded"
    in_force = f"version {facts.guideline_in_force}" if facts.guideline_in_force else "none published"
    body = [
        f"# {facts.project_name}: release {facts.tag}",
        "",
        f"Dataset release `{facts.tag}` of the Concord project `{facts.project_slug}`, cut "
        f"{facts.created_at}: {facts.n_items} examples with their clean labels. Unzip it and load it "
        "with `datasets`:",
        "",
        "```python",
        "from datasets import load_dataset",
        'dataset = load_dataset("path/to/this/folder")  # splits: ' + (", ".join(present) or "none"),
        (
            'names = dataset["train"].features["spans"].feature["label"].names'
            if spans
            else 'names = dataset["train"].features["label"].names'
        ),
        "```",
        "",
        "## Release",
        "",
        f"- SHA-256 of the release's JSONL file (Concord's canonical file): `{facts.sha256}`",
        f"- guideline in force when cut: {in_force}; labels made under versions: {versions}",
        "- splits: " + ", ".join(f"{split} {facts.split_counts.get(split, 0)}" for split in SPLITS),
        "",
        "## Labels",
        "",
        (
            "Each span's `label` is a ClassLabel; its ids follow this order. Counts are examples with "
            "a span of the label."
            if spans
            else "`label` is a ClassLabel; its ids follow this order."
        ),
        "",
        "| id | label | train | dev | test |",
        "|---|---|---|---|---|",
    ]
    for n, name in enumerate(label_names):
        per_split = facts.label_split.get(name) or {}
        body.append(f"| {n} | {name} | " + " | ".join(str(per_split.get(s, 0)) for s in SPLITS) + " |")
    body += [
        "",
        "## Agreement",
        "",
        *_agreement_section(facts),
        "",
        "## Policy",
        "",
        *_policy_text(facts.policy),
    ]
    body += [
        "",
        "## Columns",
        "",
        "external_id, text, label, "
        + (
            "spans (start, end, label: code point offsets, end exclusive; label is the spans as one "
            'text, "0:12:PER|17:24:ORG"), '
            if spans
            else ""
        )
        + "source (gold: an SME's decision; unanimous; majority; dawid_skene), "
        "split, agreement (share of raters who chose the label), n_raters, guideline_versions, "
        "metadata (one typed field per metadata key)"
        + (", rationale (the SME's, on gold labels)" if "rationale" in schema.names else "")
        + (", raters (each rater's label under a stable pseudonym)" if "raters" in schema.names else "")
        + ".",
        "",
    ]
    return "\n".join(header + body)


def huggingface_zip_write(
    *, out: IO[bytes], card: str, data_files: dict[str, Callable[[], IO[bytes]]]
) -> None:
    """Write the zip: README.md, then data/<split>.parquet for each split given (opened through
    its callable and copied in blocks)."""
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("README.md", date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, card.encode("utf-8"))
        for split in SPLITS:
            if split not in data_files:
                continue
            # Parquet is compressed already: stored as it is.
            info = zipfile.ZipInfo(f"data/{split}.parquet", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            with data_files[split]() as source, archive.open(info, "w", force_zip64=True) as target:
                while block := source.read(BLOCK_SIZE):
                    target.write(block)
