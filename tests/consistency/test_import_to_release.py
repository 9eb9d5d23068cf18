"""The chain for annotations brought from elsewhere, from a clean database: `import_annotations`
of the classic long format (example_id, rater, label; no text), then `export_dataset`, gives a
release whose labels are the majority of the raters on unanimous and majority examples."""

import csv
import json
import random
from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from projects.models import Project

LABELS = ["cat", "dog", "bird"]


def long_format(path, rng: random.Random) -> dict[str, list[str]]:
    """30 examples with 3 raters each: 10 unanimous, 10 two-to-one, 10 split three ways; the raters'
    names are the kind people type (spaces, apostrophes, non-Latin script)."""
    raters = ["Mary O'Neil", "j. doe", "李"]
    votes: dict[str, list[str]] = {}
    for n in range(30):
        if n < 10:
            label = rng.choice(LABELS)
            chosen = [label] * 3
        elif n < 20:
            first, second = rng.sample(LABELS, 2)
            chosen = [first, first, second]
            rng.shuffle(chosen)
        else:
            chosen = rng.sample(LABELS, 3)
        votes[f"img-{n:03d}"] = chosen
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["example_id", "rater", "label"])
        rows = [(eid, rater, label) for eid, chosen in votes.items() for rater, label in zip(raters, chosen)]
        rng.shuffle(rows)  # files are rarely sorted
        writer.writerows(rows)
    return votes


def test_long_format_without_text_to_a_release_with_the_majority_labels(tmp_path, db):
    assert not Project.objects.exists()  # a clean database
    path = tmp_path / "votes.csv"
    votes = long_format(path, random.Random(7))

    out = StringIO()
    call_command("import_annotations", "pets", str(path), "--create", stdout=out, stderr=StringIO())
    assert "10 unanimous, 10 majority), 10 queued for review" in out.getvalue()
    release_path = tmp_path / "release.jsonl"
    out = StringIO()
    call_command("export_dataset", "pets", "--out", str(release_path), stdout=out)
    assert "release v1: 20 examples" in out.getvalue()

    lines = [json.loads(line) for line in release_path.read_text(encoding="utf-8").splitlines()]
    released = {line["external_id"]: line for line in lines}
    expected = {}
    for external_id, chosen in votes.items():
        (label, count), *rest = Counter(chosen).most_common()
        if count >= 2:  # unanimous or a 2-of-3 majority; the three-way splits wait for an SME
            expected[external_id] = (label, "unanimous" if count == 3 else "majority", count / 3)
    assert set(released) == set(expected)
    for external_id, (label, source, agreement) in expected.items():
        line = released[external_id]
        assert (line["label"], line["source"], line["n_raters"]) == (label, source, 3)
        assert line["agreement"] == pytest.approx(agreement, abs=1e-4)
        assert line["text"] == ""
    by_source = defaultdict(int)
    for line in lines:
        by_source[line["source"]] += 1
    assert by_source == {"unanimous": 10, "majority": 10}


def test_export_of_a_project_with_nothing_decided_says_so_and_fails(tmp_path, db):
    path = tmp_path / "split.csv"
    path.write_text("example_id,rater,label\na,r1,cat\na,r2,dog\n", encoding="utf-8")
    call_command("import_annotations", "pets", str(path), "--create", stdout=StringIO())
    with pytest.raises(CommandError) as info:
        call_command("export_dataset", "pets", "--out", str(tmp_path / "out.jsonl"), stdout=StringIO())
    message = str(info.value)
    assert "No example passes the policy" in message
    assert "1 waiting in the review queue" in message
    assert "--allow-empty" in message
    assert not (tmp_path / "out.jsonl").exists()
    assert not Project.objects.get(slug="pets").dataset_releases.exists()
