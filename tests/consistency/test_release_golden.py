"""Golden files: a fixed project's releases, under several policies, are byte-for-byte the JSONL, CSV
and JSON (download) files and SHA-256 recorded in tests/consistency/golden/<database>/, which were
written by the release build before it became a streaming pipeline. A change to a single byte of
any format (a separator, a line end, a quote, the order of keys or rows, a split) fails here.

The data has fixed primary keys (rater pseudonyms depend on the project's and the raters' ids) and
fixed seeds, so the files do not depend on the order tests run in. To record the files again (only
when a format change is intended): CONCORD_GOLDEN_WRITE=1 pytest tests/consistency/test_release_golden.py
on both databases.
"""

import hashlib
import json
import os
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consistency.releases.services import release_build
from consistency.review.services import review_resolve
from labeling.models import ConsensusLabel, Disagreement
from labeling.services.decisions import examples_decide
from projects.models import Membership, Role
from tests.factories import (
    AnnotationFactory,
    ExampleFactory,
    GuidelineVersionFactory,
    LabelFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden"
WRITE = os.environ.get("CONCORD_GOLDEN_WRITE") == "1"
BASE = 900_000  # fixed primary keys, far above what other tests' sequences reach

TRICKY_TEXTS = [
    'He said "hi", then left',
    "two\nlines and a\r\nWindows line end",
    "back\\slash and \\n that is not a newline",
    "tab\tinside, comma, and 'single' quotes",
    "ünïcødé 漢字 🙂 and a line separator \u2028 here",
    "control \x01\x02\x1f characters",
    "=SUM(A1:A9)",
    "+1 555 0100",
    "-minus first",
    "@mention first",
    "\tleading tab",
    "\rleading carriage return",
    "",
    '"',
    "plain words",
]
METADATA = [
    {"channel": "email", "n": 1, "nested": {"b": [1, 2.5, None, True, False]}, "zz": "ü"},
    {"channel": "chat", "": "empty key", "long_key_name": 'q"uote'},
    {"channel": "phone", "list": [0.25, "x\ny", {"k": -3}]},
    {},
    {"channel": "email", "emoji": "🙂", "a": "=formula"},
]
RATIONALE = 'Billing: the "double charge" wins,\nwhatever else is said. =not a formula'


def _decide(example, label, source, agreement, n_raters=3):
    ConsensusLabel.objects.update_or_create(
        example=example,
        defaults={
            "label": label,
            "source": source,
            "agreement": agreement,
            "n_raters": n_raters,
            "decided_at": timezone.now(),
        },
    )


@pytest.fixture
def golden_project(db):
    """A project with every kind of decision, fixed ids, tricky texts, metadata and labels."""
    project = ProjectFactory(pk=BASE + 1, name="Golden", slug="golden", accept_majority=True)
    names = ["billing", "bug", "feature", 'needs "triage", soon', "=odd label"]
    labels = {
        name: LabelFactory(pk=BASE + 10 + i, project=project, name=name, shortcut_key=str(i + 1), position=i)
        for i, name in enumerate(names)
    }
    manager = UserFactory(pk=BASE + 20, username="golden-manager")
    sme = UserFactory(pk=BASE + 21, username="golden-sme")
    Membership.objects.create(user=manager, project=project, role=Role.MANAGER)
    Membership.objects.create(user=sme, project=project, role=Role.SME)
    raters = [UserFactory(pk=BASE + 30 + i, username=f"golden-rater{i}") for i in range(5)]
    for rater in raters:
        Membership.objects.create(user=rater, project=project, role=Role.LABELER)
    v1 = GuidelineVersionFactory(pk=BASE + 40, project=project, number=1)
    v2 = GuidelineVersionFactory(pk=BASE + 41, project=project, number=2)
    label_list = list(labels.values())

    def vote(example, votes, version, ambiguous=False):
        for rater, label in zip(raters, votes, strict=False):
            AnnotationFactory(
                example=example,
                rater=rater,
                label=labels[label],
                guideline_version=version,
                ambiguous=ambiguous,
            )

    n = 0
    for text in TRICKY_TEXTS:
        for variant in range(2):
            n += 1
            external_id = [f"ex-{n:03d}", f"={n}", f"-{n}", f"@{n}", f"é-{n}", f"A{n}", f"b {n}"][n % 7]
            example = ExampleFactory(
                pk=BASE + 100 + n,
                project=project,
                external_id=external_id,
                text=text if variant == 0 else f"{text} #{n}",
                metadata=METADATA[n % len(METADATA)],
            )
            label = label_list[n % len(label_list)]
            kind = n % 6
            if kind == 0:  # unanimous, raters' labels under version 1
                vote(example, [label.name] * 3, v1)
                _decide(example, label, "unanimous", 1.0)
            elif kind == 1:  # majority 2 of 3, across two guideline versions, one ambiguous flag
                other = label_list[(n + 1) % len(label_list)]
                vote(example, [label.name, other.name, label.name], v2 if n % 4 else v1, ambiguous=n % 4 == 1)
                _decide(example, label, "majority", 2 / 3)
            elif kind == 2:  # majority with a low agreement
                _decide(example, label, "majority", 0.5123456, n_raters=4)
            elif kind == 3:  # excluded by the rules
                _decide(example, None, "excluded", None)
            elif kind == 4:  # no decision yet: only Dawid-Skene may label it
                vote(example, [label.name, label.name, label_list[(n + 2) % len(label_list)].name], v2)
            else:  # unknown agreement
                _decide(example, label, "unanimous", None, n_raters=0)
    # Enough unanimous raters' labels for Dawid-Skene to trust the raters.
    for m in range(12):
        example = ExampleFactory(
            pk=BASE + 300 + m, project=project, external_id=f"u{m:02d}", text=f"unanimous {m}",
            metadata={"channel": ["email", "chat"][m % 2]},
        )  # fmt: skip
        name = names[m % 3]
        vote(example, [name] * 3, v2)
        _decide(example, labels[name], "unanimous", 1.0)
    # Gold by an SME, with a rationale, after a three-way split.
    for m in range(3):
        example = ExampleFactory(
            pk=BASE + 400 + m, project=project, external_id=f"gold-{m}", text=f'gold "{m}"\n',
            metadata={"channel": "chat", "m": m},
        )  # fmt: skip
        vote(example, ["billing", "bug", "feature"], v1)
        example.annotation_count = 3
        example.save(update_fields=["annotation_count"])
        examples_decide(project=project, example_ids=[example.pk])
        review_resolve(
            project=project,
            user=sme,
            disagreement_id=Disagreement.objects.get(example=example).pk,
            verdict="gold",
            label_id=labels[["billing", "=odd label", 'needs "triage", soon'][m]].pk,
            rationale=RATIONALE if m != 2 else "",
        )
    return project, manager


# Built in this order: each release keeps the splits of the latest ready one before it.
CASES = [
    ("default", {"seed": "golden"}),
    (
        "raters-rationale-all",
        {
            "seed": "golden",
            "include_raters": True,
            "include_rationale": True,
            "exclude_ambiguous": False,
            "min_agreement": 0.5,
        },
    ),
    (
        "dawid-skene",
        {
            "seed": "golden-ds",
            "sources": ["gold", "unanimous", "dawid_skene"],
            "min_posterior": 0.5,
            "include_rationale": True,
            "include_raters": True,
        },
    ),
    ("stratified", {"seed": "strata", "stratify_field": "channel", "ratios": [0.5, 0.25, 0.25]}),
    ("empty", {"seed": "golden", "sources": ["gold"], "min_agreement": 1.0}),
]


def _stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def test_release_files_are_byte_identical_to_the_golden_files(golden_project):
    project, manager = golden_project
    folder = GOLDEN / connection.vendor
    client = Client()
    client.force_login(manager)
    for case, policy in CASES:
        if case == "empty":
            ConsensusLabel.objects.filter(example__project=project, source="gold").delete()
        release = release_build(project=project, user=manager, tag=case, policy=policy)
        assert release.status == "ready", release.error
        files = {
            "jsonl": _stored(release.jsonl_file),
            "csv": _stored(release.csv_file),
            "json": b"".join(
                client.get(
                    reverse("consistency:release_download", args=[project.slug, release.tag, "json"])
                ).streaming_content
            ),
        }
        summary = {
            "sha256": release.sha256,
            "n_items": release.n_items,
            "jsonl_bytes": release.jsonl_bytes,
            "csv_bytes": release.csv_bytes,
            "counts": release.counts,
        }
        assert hashlib.sha256(files["jsonl"]).hexdigest() == release.sha256
        if WRITE:
            folder.mkdir(parents=True, exist_ok=True)
            for fmt, data in files.items():
                (folder / f"{case}.{fmt}").write_bytes(data)
            (folder / f"{case}.summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        for fmt, data in files.items():
            assert data == (folder / f"{case}.{fmt}").read_bytes(), f"{case}.{fmt} differs"
        assert summary == json.loads((folder / f"{case}.summary.json").read_text()), case
        json.loads(files["json"])  # the download is one valid JSON array
