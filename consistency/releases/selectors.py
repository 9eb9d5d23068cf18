"""Reads for dataset releases: lists and lookups scoped to a project, each example's current
decision as a release candidate, the splits of the latest release, and the diff of two releases."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.db.models import QuerySet

from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.review.models import Resolution
from consistency.review.selectors import resolutions_current
from core.errors import Conflict, NotFound
from labeling.models import Annotation, ConsensusLabel
from projects.models import Project

DIFF_LIST_LIMIT = 500


def release_list(*, project: Project) -> QuerySet[DatasetRelease]:
    return (
        DatasetRelease.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def release_get(*, project: Project, tag: str) -> DatasetRelease:
    release = DatasetRelease.objects.filter(project=project, tag=tag).first()
    if release is None:
        raise NotFound("Release not found.")
    return release


def release_latest_ready(*, project: Project) -> DatasetRelease | None:
    return (
        DatasetRelease.objects.filter(project=project, status=DatasetRelease.Status.READY)
        .order_by("-created_at", "-id")
        .first()
    )


def release_splits(*, release: DatasetRelease | None) -> dict[str, str]:
    """{external_id: split} of a release's items (empty for none)."""
    if release is None:
        return {}
    return dict(DatasetReleaseItem.objects.filter(release=release).values_list("external_id", "split"))


@dataclass
class ExampleDecision:
    """What the database says about one example now, before a policy is applied."""

    example_id: int
    external_id: str
    label_id: int | None
    source: str
    agreement: float | None
    n_raters: int
    ambiguous: bool = False
    versions: set[int] = field(default_factory=set)
    votes: dict[int, int] = field(default_factory=dict)  # rater id -> label id


def current_votes(*, project: Project) -> dict[int, ExampleDecision]:
    """Current (not superseded) annotations grouped per example: votes, ambiguous flags, versions.

    One query over four integer columns and a flag; decisions carry no consensus yet.
    """
    rows = (
        Annotation.objects.filter(example__project=project, superseded_at__isnull=True)
        .order_by()
        .values_list(
            "example_id",
            "example__external_id",
            "rater_id",
            "label_id",
            "ambiguous",
            "guideline_version__number",
        )
    )
    out: dict[int, ExampleDecision] = {}
    for example_id, external_id, rater_id, label_id, ambiguous, version in rows.iterator(chunk_size=5000):
        decision = out.get(example_id)
        if decision is None:
            decision = out[example_id] = ExampleDecision(example_id, external_id, None, "", None, 0)
        decision.votes[rater_id] = label_id
        decision.ambiguous = decision.ambiguous or ambiguous
        if version is not None:
            decision.versions.add(version)
    return out


def consensus_rows(*, project: Project):
    """(example id, external id, label id, source, agreement, n_raters) for every decided example."""
    return (
        ConsensusLabel.objects.filter(example__project=project)
        .exclude(source=ConsensusLabel.Source.EXCLUDED)
        .order_by()
        .values_list("example_id", "example__external_id", "label_id", "source", "agreement", "n_raters")
        .iterator(chunk_size=5000)
    )


def gold_rationales(*, project: Project) -> dict[int, tuple[int, str]]:
    """{example id: (gold label id, rationale)} of each example's current gold resolution."""
    out: dict[int, tuple[int, str]] = {}
    rows = (
        resolutions_current(project=project)
        .order_by("created_at", "id")
        .values_list("example_id", "verdict", "label_id", "rationale")
    )
    for example_id, verdict, label_id, rationale in rows:
        if verdict == Resolution.Verdict.GOLD:
            out[example_id] = (label_id, rationale)
        else:
            out.pop(example_id, None)
    return out


def release_diff(*, old: DatasetRelease, new: DatasetRelease, limit: int = DIFF_LIST_LIMIT) -> dict:
    """What changed from `old` to `new` (same project): added, removed and relabeled examples, and
    kept examples whose split changed (none, if splits are stable). Lists are cut at `limit`;
    the counts are complete."""
    if old.project_id != new.project_id:
        raise NotFound("Release not found.")
    before = {
        eid: (label, split)
        for eid, label, split in DatasetReleaseItem.objects.filter(release=old).values_list(
            "external_id", "label", "split"
        )
    }
    added: list[dict] = []
    relabeled: list[dict] = []
    split_changed: list[dict] = []
    counts: dict[str, int] = defaultdict(int)
    seen = set()
    rows = (
        DatasetReleaseItem.objects.filter(release=new)
        .order_by("external_id")
        .values_list("external_id", "label", "split")
        .iterator(chunk_size=5000)
    )
    for eid, label, split in rows:
        previous = before.get(eid)
        if previous is None:
            counts["added"] += 1
            if len(added) < limit:
                added.append({"external_id": eid, "label": label, "split": split})
            continue
        seen.add(eid)
        if previous[0] != label:
            counts["relabeled"] += 1
            if len(relabeled) < limit:
                relabeled.append({"external_id": eid, "old_label": previous[0], "new_label": label})
        if previous[1] != split:
            counts["split_changed"] += 1
            if len(split_changed) < limit:
                split_changed.append({"external_id": eid, "old_split": previous[1], "new_split": split})
    removed_ids = sorted(eid for eid in before if eid not in seen)
    removed = [{"external_id": eid, "label": before[eid][0]} for eid in removed_ids[:limit]]
    return {
        "old": old.tag,
        "new": new.tag,
        "counts": {
            "added": counts["added"],
            "removed": len(removed_ids),
            "relabeled": counts["relabeled"],
            "split_changed": counts["split_changed"],
            "kept": len(seen),
        },
        "added": added,
        "removed": removed,
        "relabeled": relabeled,
        "split_changed": split_changed,
    }


def release_file_get(*, release: DatasetRelease, file_format: str) -> tuple[str, int]:
    """(storage path, size) of a ready release's file in `file_format`: "jsonl", "csv", or "json"
    (read from the JSONL file, rewritten as an array while it streams)."""
    if release.status != DatasetRelease.Status.READY:
        raise Conflict("The release is not ready yet.")
    if file_format in ("jsonl", "json"):
        name, size = release.jsonl_file, release.jsonl_bytes
    elif file_format == "csv":
        name, size = release.csv_file, release.csv_bytes
    else:
        raise NotFound("Unknown format: use jsonl, csv or json.")
    if not name or not default_storage.exists(name):
        raise NotFound("The release file is missing from storage.")
    return name, size
