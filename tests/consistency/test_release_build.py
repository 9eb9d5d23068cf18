"""Building dataset releases: policy filtering, content, stable splits, byte-identical output on
both database paths, immutability, the task path and the export command."""

import csv
import hashlib
import io
import json
from collections import Counter

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.releases.policy import jsonb_text
from consistency.releases.selectors import release_diff
from consistency.releases.services import (
    DAWID_SKENE_MAX_ITER,
    release_build,
    release_build_run,
    release_create,
)
from core.errors import ApplicationError
from labeling.models import ConsensusLabel
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _decide(example, label, source="unanimous", agreement=1.0, n_raters=3):
    return ConsensusLabel.objects.update_or_create(
        example=example,
        defaults={
            "label": label,
            "source": source,
            "agreement": agreement if source not in ("gold", "excluded") else None,
            "n_raters": n_raters,
            "decided_at": timezone.now(),
        },
    )[0]


def _stored(release, fmt="jsonl") -> bytes:
    with default_storage.open(release.jsonl_file if fmt == "jsonl" else release.csv_file, "rb") as handle:
        return handle.read()


def _lines(release) -> list[dict]:
    # Split on "\n" only: str.splitlines() would also split on U+2028, which JSON leaves raw.
    return [json.loads(line) for line in _stored(release).split(b"\n") if line]


@pytest.fixture
def labels(project):
    return {label.name: label for label in project.labels.all()}


def test_jsonl_content_fields_and_tricky_text(project, labels, manager):
    GuidelineVersionFactory(project=project, number=1)
    ex = ExampleFactory(
        project=project,
        external_id="a\\b",
        text='He said "hi"\\n\nnew line\ttab é 🙂 \u2028',
        metadata={"channel": 'e"mail', "n": 3, "nested": {"b": [1, 2.5, None, True]}, "zz": "ü"},
    )
    _decide(ex, labels["bug"], "majority", 2 / 3)
    release = release_build(project=project, user=manager)
    assert release.status == DatasetRelease.Status.READY
    [line] = _lines(release)
    assert line == {
        "external_id": "a\\b",
        "text": 'He said "hi"\\n\nnew line\ttab é 🙂 \u2028',
        "label": "bug",
        "source": "majority",
        "split": line["split"],
        "agreement": 0.6667,
        "n_raters": 3,
        "guideline_versions": [],
        "metadata": {"channel": 'e"mail', "n": 3, "nested": {"b": [1, 2.5, None, True]}, "zz": "ü"},
    }
    raw = _stored(release)
    assert hashlib.sha256(raw).hexdigest() == release.sha256
    assert release.jsonl_bytes == len(raw)
    assert b"\\\\b" in raw
    assert "é".encode() in raw
    assert release.guideline_version.number == 1
    assert release.counts["labels"] == {"bug": 1}


def test_jsonl_and_csv_written_in_one_pass_hold_the_same_rows(project, labels, manager):
    tricky = [
        "back\\slash",
        'quote " and \x01\x02 controls\x1f',
        "multi\nline\r\n",
        "ünïcødé 漢字 🙂",
        "=SUM(A1)",
        "",
    ]
    for n, text in enumerate(tricky * 3):
        ex = ExampleFactory(
            project=project, external_id=f"id-{n:02d}-{text[:3]}", text=text,
            metadata={"k": text, "long_key": n, "f": 0.5, "list": [n, "x"]},
        )  # fmt: skip
        _decide(ex, labels["bug" if n % 2 else "billing"], "gold" if n % 3 == 0 else "majority", 0.75)
    release = release_build(
        project=project, user=manager, policy={"include_rationale": True, "include_raters": True}
    )
    lines = _lines(release)
    rows = list(csv.reader(io.StringIO(_stored(release, "csv").decode(), newline="")))
    assert rows[0][-2:] == ["rationale", "raters"]
    assert len(lines) == len(rows) - 1 == len(tricky) * 3
    for line, row in zip(lines, rows[1:], strict=True):
        text = line["text"]
        assert row[:5] == [
            line["external_id"],
            "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text,
            line["label"],
            line["source"],
            line["split"],
        ]
        assert json.loads(row[8]) == line["metadata"]
    assert any(row[1] == "'=SUM(A1)" for row in rows)


def test_policy_sources_min_agreement_and_ambiguous(project, labels, manager):
    raters = [UserFactory() for _ in range(3)]
    gold = ExampleFactory(project=project, external_id="gold")
    unanimous = ExampleFactory(project=project, external_id="unan")
    weak = ExampleFactory(project=project, external_id="weak")
    amb = ExampleFactory(project=project, external_id="amb")
    amb_gold = ExampleFactory(project=project, external_id="amb-gold")
    excluded = ExampleFactory(project=project, external_id="excl")
    undecided = ExampleFactory(project=project, external_id="open")
    _decide(gold, labels["bug"], "gold")
    _decide(unanimous, labels["bug"], "unanimous", 1.0)
    _decide(weak, labels["billing"], "majority", 0.6)
    _decide(amb, labels["billing"], "majority", 0.67)
    _decide(amb_gold, labels["feature"], "gold")
    _decide(excluded, None, "excluded")
    for example in (amb, amb_gold):
        AnnotationFactory(example=example, rater=raters[0], label=labels["billing"], ambiguous=True)
    for rater in raters:
        AnnotationFactory(example=undecided, rater=rater, label=labels["other"])

    def ids(**policy):
        release = release_build(project=project, user=manager, policy=policy)
        return sorted(line["external_id"] for line in _lines(release))

    assert ids() == ["amb-gold", "gold", "unan", "weak"]
    assert ids(min_agreement=0.7) == ["amb-gold", "gold", "unan"]
    assert ids(exclude_ambiguous=False) == ["amb", "amb-gold", "gold", "unan", "weak"]
    assert ids(sources=["gold"]) == ["amb-gold", "gold"]
    with_ds = release_build(
        project=project, user=manager, policy={"use_dawid_skene": True, "min_posterior": 0.5}
    )
    by_id = {line["external_id"]: line for line in _lines(with_ds)}
    with_ds.refresh_from_db()
    # The release says whether EM settled: on three examples and five labels it creeps for a few
    # hundred iterations, within the release's limit.
    fit = with_ds.counts["dawid_skene"]
    assert fit["converged"] is True
    assert 100 < fit["n_iter"] < fit["max_iter"] == DAWID_SKENE_MAX_ITER
    assert by_id["open"]["source"] == "dawid_skene"
    assert by_id["open"]["label"] == "other"
    assert "excl" not in by_id
    with pytest.raises(ApplicationError):
        release_create(project=project, user=manager, policy={"sources": ["nonsense"]})


def test_rater_pseudonyms_are_stable_and_hide_usernames(project, labels, manager):
    alice = UserFactory(username="alice_rater")
    bob = UserFactory(username="bob_rater")
    ex = ExampleFactory(project=project, external_id="e1")
    AnnotationFactory(example=ex, rater=alice, label=labels["bug"])
    AnnotationFactory(example=ex, rater=bob, label=labels["bug"])
    _decide(ex, labels["bug"], "unanimous", 1.0, 2)
    policy = {"include_raters": True}
    first = _lines(release_build(project=project, user=manager, policy=policy))[0]["raters"]
    ExampleFactory(project=project, external_id="e2")
    second = _lines(release_build(project=project, user=manager, policy=policy))[0]["raters"]
    assert first == second
    assert len(first) == 2
    assert all(key.startswith("r_") and len(key) == 12 for key in first)
    text = json.dumps(first)
    assert "alice" not in text
    assert "bob" not in text
    assert str(alice.pk) not in [k[2:] for k in first]


def test_splits_are_stratified_stable_and_deterministic(project, labels, manager):
    for n in range(60):
        ex = ExampleFactory(project=project, external_id=f"ex-{n:03d}")
        _decide(ex, labels["bug" if n < 40 else "billing"])
    first = release_build(project=project, user=manager)
    for label, per_split in first.counts["label_split"].items():
        total = sum(per_split.values())
        for split, ratio in zip(("train", "dev", "test"), (0.8, 0.1, 0.1), strict=True):
            assert abs(per_split[split] - ratio * total) <= 1, (label, per_split)
    old = {line["external_id"]: line["split"] for line in _lines(first)}
    for n in range(60, 90):
        ex = ExampleFactory(project=project, external_id=f"ex-{n:03d}")
        _decide(ex, labels["feature"])
    second = release_build(project=project, user=manager)
    new = {line["external_id"]: line["split"] for line in _lines(second)}
    assert all(new[eid] == split for eid, split in old.items())
    diff = release_diff(old=first, new=second)
    assert diff["counts"]["added"] == 30
    assert diff["counts"]["split_changed"] == 0
    feature = second.counts["label_split"]["feature"]
    assert abs(feature["train"] - 24) <= 1
    assert abs(feature["dev"] - 3) <= 1
    # Deterministic: the same data in a release with no history gives the same splits.
    DatasetRelease.objects.filter(project=project).delete()
    again = release_build(project=project, user=manager)
    assert {line["external_id"]: line["split"] for line in _lines(again)} == new
    assert again.sha256 == second.sha256


def test_stratify_by_metadata_field(project, labels, manager):
    for n in range(40):
        ex = ExampleFactory(
            project=project, external_id=f"m{n:02d}", metadata={"lang": "en" if n % 2 else "de"}
        )
        _decide(ex, labels["bug"])
    release = release_build(project=project, user=manager, policy={"stratify_field": "lang"})
    per = Counter((line["metadata"]["lang"], line["split"]) for line in _lines(release))
    assert per[("en", "train")] == 16
    assert per[("de", "test")] == 2
    with pytest.raises(ApplicationError):
        release_create(project=project, user=manager, policy={"stratify_field": "nope"})


def test_diff_after_relabeling_and_removal(project, labels, manager):
    a = ExampleFactory(project=project, external_id="a")
    b = ExampleFactory(project=project, external_id="b")
    c = ExampleFactory(project=project, external_id="c")
    for ex in (a, b, c):
        _decide(ex, labels["bug"])
    first = release_build(project=project, user=manager, tag="first")
    _decide(a, labels["feature"], "gold")  # an SME revision
    ConsensusLabel.objects.filter(example=b).delete()  # sent back for relabeling
    d = ExampleFactory(project=project, external_id="d")
    _decide(d, labels["other"])
    second = release_build(project=project, user=manager, tag="second")
    diff = release_diff(old=first, new=second)
    assert diff["counts"] == {"added": 1, "removed": 1, "relabeled": 1, "split_changed": 0, "kept": 2}
    assert diff["relabeled"] == [{"external_id": "a", "old_label": "bug", "new_label": "feature"}]
    assert diff["removed"][0]["external_id"] == "b"
    assert diff["added"][0]["external_id"] == "d"


def test_csv_escapes_formulas(project, labels, manager):
    for n, text in enumerate(["=HYPERLINK(1)", "+1", "-2", "@cmd", "\tx", "\rx", "plain, with comma"]):
        ex = ExampleFactory(project=project, external_id=f"c{n}", text=text)
        _decide(ex, labels["bug"])
    release = release_build(project=project, user=manager)
    rows = list(csv.DictReader(io.StringIO(_stored(release, "csv").decode(), newline="")))
    texts = [row["text"] for row in rows]
    assert texts == ["'=HYPERLINK(1)", "'+1", "'-2", "'@cmd", "'\tx", "'\rx", "plain, with comma"]
    assert rows[0]["agreement"] == "1.0000"
    assert rows[0]["label"] == "bug"


def test_tags_are_unique_and_validated_and_ready_release_is_immutable(project, labels, manager):
    _decide(ExampleFactory(project=project, external_id="x"), labels["bug"])
    release = release_build(project=project, user=manager)
    assert release.tag == "v1"
    assert release_build(project=project, user=manager).tag == "v2"
    with pytest.raises(ApplicationError):
        release_create(project=project, user=manager, tag="v1")
    with pytest.raises(ApplicationError):
        release_create(project=project, user=manager, tag="bad tag!")
    sha, file = release.sha256, release.jsonl_file
    _decide(ExampleFactory(project=project, external_id="y"), labels["bug"])
    assert release_build_run(release_id=release.pk) is None  # a ready release is never rebuilt
    release.refresh_from_db()
    assert (release.sha256, release.jsonl_file, release.n_items) == (sha, file, 1)


def test_the_database_refuses_to_change_a_ready_release(project, labels, manager):
    _decide(ExampleFactory(project=project, external_id="x"), labels["bug"])
    release = release_build(project=project, user=manager)
    item = release.items.get()
    for change in (
        lambda: DatasetRelease.objects.filter(pk=release.pk).update(sha256="0" * 64),
        lambda: DatasetReleaseItem.objects.filter(pk=item.pk).update(label="feature"),
        lambda: DatasetReleaseItem.objects.create(
            release=release, external_id="new", label="bug", source="gold", split="train"
        ),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    release.refresh_from_db()
    assert release.items.get().label == "bug"
    DatasetRelease.objects.filter(pk=release.pk).delete()  # deleting (the project's cascade) still works


def test_build_through_the_task(project, labels, manager, django_capture_on_commit_callbacks):
    _decide(ExampleFactory(project=project, external_id="x"), labels["bug"])
    with django_capture_on_commit_callbacks(execute=True):
        release = release_create(project=project, user=manager, tag="task-built")
    release.refresh_from_db()
    assert release.status == DatasetRelease.Status.READY
    assert release.n_items == 1
    assert release.progress_percent == 100


def test_export_dataset_command(project, labels, tmp_path, capsys):
    _decide(ExampleFactory(project=project, external_id="x"), labels["bug"])
    out = tmp_path / "data.jsonl"
    call_command("export_dataset", "support", "--format", "jsonl", "--out", str(out))
    release = DatasetRelease.objects.get(project=project)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == release.sha256
    assert release.sha256 in capsys.readouterr().out
    csv_out = tmp_path / "data.csv"
    call_command("export_dataset", "support", "--format", "csv", "--out", str(csv_out), "--release", "v1")
    assert csv_out.read_text().startswith("external_id,text,label")
    assert DatasetRelease.objects.count() == 1


@pytest.mark.postgres
def test_postgres_copy_path_keeps_every_character(project, labels, manager):
    assert connection.vendor == "postgresql"
    eid = "tab\there back\\slash"
    _decide(ExampleFactory(project=project, external_id=eid, text='x\\y\n"z"'), labels["bug"])
    release = release_build(project=project, user=manager, policy={"include_raters": True})
    [line] = _lines(release)
    assert line["external_id"] == eid
    assert line["text"] == 'x\\y\n"z"'
    value = {"bb": 1, "a": 'x\\"\n\u0001é🙂', "ccc": [1, None, True, {"zz": 0, "y": 2.5}], "": "e"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [json.dumps(value)])
        assert cursor.fetchone()[0] == jsonb_text(value)
