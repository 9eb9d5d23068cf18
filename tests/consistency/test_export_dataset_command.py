"""`manage.py export_dataset`: the release policy on the command line, as the releases page and the
API take it, clear errors for bad values, and a release with no example refused unless asked for."""

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from consistency.releases.models import DatasetRelease
from labeling.models import ConsensusLabel
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory


def _decide(example, label, source, agreement, n_raters=3):
    ConsensusLabel.objects.create(
        example=example,
        label=label,
        source=source,
        agreement=agreement,
        n_raters=n_raters,
        decided_at=timezone.now(),
    )


@pytest.fixture
def decided(project):
    labels = {label.name: label for label in project.labels.all()}
    raters = [UserFactory(username=f"r{n}") for n in range(3)]
    for n in range(10):
        example = ExampleFactory(project=project, external_id=f"u{n}", metadata={"lang": ("en", "de")[n % 2]})
        for rater in raters:
            AnnotationFactory(example=example, rater=rater, label=labels["bug"])
        _decide(example, labels["bug"], "unanimous", 1.0)
    for n in range(6):
        example = ExampleFactory(project=project, external_id=f"m{n}", metadata={"lang": "en"})
        for rater, name in zip(raters, ["billing", "billing", "bug"], strict=True):
            AnnotationFactory(example=example, rater=rater, label=labels[name])
        _decide(example, labels["billing"], "majority", 2 / 3)
    return labels


def export(tmp_path, *args, name="out.jsonl"):
    out = tmp_path / name
    stdout = StringIO()
    call_command("export_dataset", "support", "--out", str(out), *args, stdout=stdout)
    if name.endswith(".csv"):
        with out.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle)), stdout.getvalue()
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()], stdout.getvalue()


def test_policy_options_shape_the_new_release(tmp_path, decided):
    lines, out = export(
        tmp_path,
        "--sources", "unanimous",
        "--min-agreement", "0.9",
        "--include-raters",
        "--split", "0.5,0.5,0",
        "--stratify-field", "lang",
        "--seed", "s1",
        "--tag", "only-unanimous",
    )  # fmt: skip
    assert "release only-unanimous: 10 examples (train 6, dev 4, test 0)" in out
    assert {line["source"] for line in lines} == {"unanimous"}
    assert all(len(line["raters"]) == 3 for line in lines)
    release = DatasetRelease.objects.get(tag="only-unanimous")
    assert release.policy["sources"] == ["unanimous"]
    assert release.policy["min_agreement"] == 0.9
    assert release.policy["ratios"] == [0.5, 0.5, 0.0]
    assert (release.policy["stratify_field"], release.policy["seed"]) == ("lang", "s1")
    assert release.policy["include_raters"]
    assert not release.policy["include_rationale"]


def test_minimum_agreement_leaves_out_the_majorities(tmp_path, decided):
    lines, _ = export(tmp_path, "--min-agreement", "0.7")
    assert len(lines) == 10
    lines, _ = export(tmp_path, "--min-agreement", "0.6", "--format", "csv", name="out.csv")
    assert len(lines) == 16


def test_ambiguous_flags_exclude_unless_included(tmp_path, project, decided):
    example = project.examples.get(external_id="u0")
    annotation = example.annotations.first()
    annotation.ambiguous = True
    annotation.save()
    lines, _ = export(tmp_path)
    assert "u0" not in {line["external_id"] for line in lines}
    lines, _ = export(tmp_path, "--include-ambiguous")
    assert "u0" in {line["external_id"] for line in lines}
    assert DatasetRelease.objects.get(tag="v2").policy["exclude_ambiguous"] is False


def test_the_same_seed_gives_the_same_splits(tmp_path, decided):
    first, _ = export(tmp_path, "--seed", "abc", "--tag", "a")
    DatasetRelease.objects.all().delete()  # splits of an earlier release would be kept otherwise
    second, _ = export(tmp_path, "--seed", "abc", "--tag", "b")
    assert [(x["external_id"], x["split"]) for x in first] == [(x["external_id"], x["split"]) for x in second]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sources", "gold,bogus"], "Unknown source(s): bogus."),
        (["--sources", ","], "Choose at least one source."),
        (["--min-agreement", "1.5"], "argument --min-agreement: a number between 0 and 1 is expected"),
        (["--min-agreement", "high"], "argument --min-agreement: a number between 0 and 1 is expected"),
        (["--split", "0.8,0.2"], "argument --split: three numbers for train,dev,test are expected"),
        (["--split", "0.8,0.2,0.2"], "split ratios (train, dev, test) that are >= 0 and sum to 1"),
        (["--stratify-field", "nope"], "No example has the metadata field 'nope'."),
        (["--tag", "no spaces"], "A tag is 1-40 letters"),
        (["--release", "v9"], "Release not found."),
        (["--release", "v1", "--min-agreement", "0.5"], "--min-agreement: only for a new one"),
        (["--release", "v1", "--include-ambiguous"], "--exclude-ambiguous: only for a new one"),
        (["--include-ambiguous", "--exclude-ambiguous"], "not allowed with argument"),
    ],
)
def test_bad_values_are_clear_errors_and_nothing_is_cut(tmp_path, decided, args, message):
    if args[:2] == ["--release", "v1"]:
        export(tmp_path)  # v1 exists
    before = DatasetRelease.objects.count()
    with pytest.raises(CommandError) as info:
        export(tmp_path, *args, name="bad.jsonl")
    assert message in str(info.value)
    assert DatasetRelease.objects.count() == before
    assert not (tmp_path / "bad.jsonl").exists()


def test_an_empty_release_is_refused_unless_asked_for(tmp_path, project):
    ExampleFactory(project=project)
    with pytest.raises(CommandError) as info:
        export(tmp_path)
    assert "No example passes the policy (sources gold, unanimous, majority" in str(info.value)
    assert "The project has 1 examples, 0 with annotations" in str(info.value)
    assert not DatasetRelease.objects.exists()
    assert not (tmp_path / "out.jsonl").exists()

    lines, out = export(tmp_path, "--allow-empty")
    assert lines == []
    assert "release v1: 0 examples" in out
    assert DatasetRelease.objects.get().n_items == 0
