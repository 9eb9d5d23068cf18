"""Releases of a span project: each example's released answer is its consensus (or SME) spans,
sorted [start, end, name] on the item, with a canonical text in `label` so diffs work; spaCy-style
spans in the JSONL, a JSON spans column in the CSV, list<struct> in Parquet, labels results with
UTF-16 offsets for Label Studio, and CoNLL-style BIO (span projects only). Runs on both
databases."""

import csv
import io
import json
from io import StringIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from consistency.releases.exports import release_export_get, release_formats
from consistency.releases.formats.conll import bio_tags, conll_write
from consistency.releases.models import DatasetReleaseItem
from consistency.releases.selectors import release_diff
from consistency.releases.services import release_build
from core.errors import NotFound
from labeling.models import Annotation, ConsensusLabel
from projects.models import Project, TaskType
from tests.factories import AnnotationFactory, ExampleFactory, LabelFactory, UserFactory

pytestmark = pytest.mark.django_db

EMOJI = "I \U0001f600 Ada"  # the emoji: one code point, two UTF-16 code units

# external id: (text, consensus spans as [start, end, name], source, agreement)
EXAMPLES = {
    "s-01": ("Ada Lovelace met Charles Babbage, in London.",
             [[0, 12, "PER"], [17, 32, "PER"], [37, 43, "LOC"]], "unanimous", 1.0),
    "s-02": ("Bank of England staff.", [[0, 15, "ORG"], [8, 15, "LOC"]], "majority", 2 / 3),
    "s-03": ("Nothing to see here.", [], "unanimous", 1.0),
    "s-04": ("AdaLovelace went home", [[0, 3, "PER"]], "unanimous", 1.0),
    "s-05": (EMOJI, [[4, 7, "PER"]], "gold", None),
}  # fmt: skip


@pytest.fixture
def ner(project):
    project.task_type = TaskType.SPANS
    project.spans_may_nest = True
    project.save(update_fields=["task_type", "spans_may_nest"])
    for position, (name, key) in enumerate([("PER", "5"), ("ORG", "6"), ("LOC", "7")], start=4):
        LabelFactory(project=project, name=name, shortcut_key=key, position=position)
    return project


def _ids(project, spans):
    ids = dict(project.labels.values_list("name", "pk"))
    return sorted([start, end, ids[name]] for start, end, name in spans)


def _decide(project, external_id, spans, *, source="unanimous", agreement=1.0):
    example = project.examples.get(external_id=external_id)
    ConsensusLabel.objects.update_or_create(
        example=example,
        defaults={
            "label": None,
            "labels": None,
            "spans": None if source == "excluded" else _ids(project, spans),
            "source": source,
            "agreement": agreement,
            "n_raters": 3,
            "decided_at": timezone.now(),
        },
    )


@pytest.fixture
def decided(ner):
    raters = [UserFactory(username=f"ner-rater-{i}") for i in range(3)]
    for external_id, (text, spans, source, agreement) in EXAMPLES.items():
        example = ExampleFactory(project=ner, external_id=external_id, text=text)
        for n, rater in enumerate(raters):
            # The third rater of s-02 leaves out the inner span; the others agree with the answer.
            given = spans[:1] if external_id == "s-02" and n == 2 else spans
            AnnotationFactory(example=example, rater=rater, label=None, spans=_ids(ner, given))
        _decide(ner, external_id, spans, source=source, agreement=agreement)
    excluded = ExampleFactory(project=ner, external_id="s-06", text="Split decision.")
    AnnotationFactory(example=excluded, rater=raters[0], label=None, spans=[])
    _decide(ner, "s-06", [], source="excluded", agreement=None)
    return raters


def _stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def _export(release, file_format: str) -> bytes:
    return _stored(release_export_get(release=release, file_format=file_format).file)


def _build(project, user, **policy):
    release = release_build(project=project, user=user, policy={"seed": "s", **policy})
    assert release.status == "ready", release.error
    return release


def test_items_hold_sorted_named_spans_and_their_canonical_text(ner, manager, decided):
    release = _build(ner, manager)
    items = {item.external_id: item for item in DatasetReleaseItem.objects.filter(release=release)}
    assert sorted(items) == ["s-01", "s-02", "s-03", "s-04", "s-05"]  # s-06 was excluded
    assert items["s-01"].spans == [[0, 12, "PER"], [17, 32, "PER"], [37, 43, "LOC"]]
    assert items["s-01"].label == "0:12:PER|17:32:PER|37:43:LOC"
    assert (items["s-02"].label, items["s-02"].labels) == ("0:15:ORG|8:15:LOC", None)
    assert (items["s-03"].spans, items["s-03"].label) == ([], "")
    assert items["s-05"].source == "gold"
    assert items["s-02"].agreement == pytest.approx(2 / 3, abs=1e-4)
    # A label counts the released examples with a span of it.
    assert release.counts["labels"] == {"PER": 3, "ORG": 1, "LOC": 2}
    assert sum(release.counts["splits"].values()) == 5


def test_jsonl_gives_spacy_style_spans_in_code_points(ner, manager, decided):
    release = _build(ner, manager)
    lines = {}
    for raw in _stored(release.jsonl_file).decode().splitlines():
        line = json.loads(raw)
        lines[line["external_id"]] = line
    assert lines["s-01"]["spans"] == [
        {"start": 0, "end": 12, "label": "PER"},
        {"start": 17, "end": 32, "label": "PER"},
        {"start": 37, "end": 43, "label": "LOC"},
    ]
    assert lines["s-03"]["spans"] == []
    emoji = lines["s-05"]
    (span,) = emoji["spans"]
    assert emoji["text"][span["start"] : span["end"]] == "Ada"  # Python string offsets
    assert {"text", "label", "split", "source", "metadata", "agreement", "guideline_versions"} <= set(emoji)
    # The JSON download is the same lines as one array.
    assert lines["s-01"]["label"] == "0:12:PER|17:32:PER|37:43:LOC"


def test_csv_has_a_spans_column_with_the_json_list(ner, manager, decided):
    release = _build(ner, manager)
    rows = list(csv.DictReader(io.StringIO(_stored(release.csv_file).decode(), newline="")))
    header = list(rows[0])
    assert header[header.index("label") + 1] == "spans"
    by_id = {row["external_id"]: row for row in rows}
    assert json.loads(by_id["s-02"]["spans"]) == [
        {"start": 0, "end": 15, "label": "ORG"},
        {"start": 8, "end": 15, "label": "LOC"},
    ]
    assert (by_id["s-03"]["spans"], by_id["s-03"]["label"]) == ("[]", "")


def test_parquet_spans_are_a_list_of_structs(ner, manager, decided):
    release = _build(ner, manager, ratios=[1.0, 0.0, 0.0])
    table = pq.read_table(io.BytesIO(_export(release, "parquet-train")))
    assert table.schema.field("spans").type == pa.list_(
        pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string())])
    )
    rows = {row["external_id"]: row for row in table.to_pylist()}
    assert rows["s-02"]["spans"] == [
        {"start": 0, "end": 15, "label": "ORG"},
        {"start": 8, "end": 15, "label": "LOC"},
    ]
    assert rows["s-03"]["spans"] == []
    assert rows["s-05"]["spans"] == [{"start": 4, "end": 7, "label": "PER"}]


def test_bio_tags_of_hand_made_examples():
    # Punctuation is a token of its own; nested spans tag the outermost; a span inside a word
    # tags the word; adjacent spans each start with B-.
    people = [(0, 12, "PER"), (17, 32, "PER"), (37, 43, "LOC")]
    assert bio_tags("Ada Lovelace met Charles Babbage, in London.", people) == [
        ("Ada", "B-PER"), ("Lovelace", "I-PER"), ("met", "O"), ("Charles", "B-PER"), ("Babbage", "I-PER"),
        (",", "O"), ("in", "O"), ("London", "B-LOC"), (".", "O"),
    ]  # fmt: skip
    assert bio_tags("Bank of England staff.", [(8, 15, "LOC"), (0, 15, "ORG")]) == [
        ("Bank", "B-ORG"), ("of", "I-ORG"), ("England", "I-ORG"), ("staff", "O"), (".", "O"),
    ]  # fmt: skip
    assert bio_tags("AdaLovelace went home", [(0, 3, "PER")]) == [
        ("AdaLovelace", "B-PER"),
        ("went", "O"),
        ("home", "O"),
    ]
    assert bio_tags("Paris London", [(0, 5, "LOC"), (6, 12, "LOC")]) == [
        ("Paris", "B-LOC"),
        ("London", "B-LOC"),
    ]
    assert bio_tags("No one.", []) == [("No", "O"), ("one", "O"), (".", "O")]


def _conll_blocks(data: bytes) -> dict[str, list[tuple[str, str]]]:
    blocks = {}
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("# id = ")
        assert lines[1].startswith("# split = ")
        blocks[lines[0].removeprefix("# id = ")] = [tuple(line.split("\t")) for line in lines[2:]]
    return blocks


def test_conll_file_is_bio_per_token_with_an_id_comment_per_example(ner, manager, decided):
    release = _build(ner, manager)
    data = _export(release, "conll")
    assert data.endswith(b"\n\n")
    blocks = _conll_blocks(data)
    assert list(blocks) == ["s-01", "s-02", "s-03", "s-04", "s-05"]
    assert blocks["s-02"] == [
        ("Bank", "B-ORG"),
        ("of", "I-ORG"),
        ("England", "I-ORG"),
        ("staff", "O"),
        (".", "O"),
    ]
    assert blocks["s-03"] == [("Nothing", "O"), ("to", "O"), ("see", "O"), ("here", "O"), (".", "O")]
    assert blocks["s-04"][0] == ("AdaLovelace", "B-PER")
    assert blocks["s-05"] == [("I", "O"), ("\U0001f600", "O"), ("Ada", "B-PER")]


def test_a_label_with_spaces_is_one_whitespace_free_tag():
    """CoNLL readers split lines on whitespace: `B-error code` would read as three columns."""
    out = io.BytesIO()
    line = {"external_id": "x", "split": "train", "text": "Got E 42 today",
            "spans": [{"start": 4, "end": 8, "label": "error  code"}]}  # fmt: skip
    conll_write([line], out=out)
    rows = [row.split() for row in out.getvalue().decode().splitlines()[2:-1]]
    assert rows == [["Got", "O"], ["E", "B-error_code"], ["42", "I-error_code"], ["today", "O"]]


def test_label_studio_tasks_carry_utf16_offsets_and_import_back(ner, manager, decided, tmp_path):
    release = _build(ner, manager, include_raters=True)
    tasks = {task["id"]: task for task in json.loads(_export(release, "labelstudio"))}
    (result,) = tasks["s-05"]["annotations"][0]["result"]
    assert result["type"] == "labels"
    assert result["value"] == {"start": 5, "end": 8, "text": "Ada", "labels": ["PER"]}
    assert tasks["s-03"]["annotations"][0]["result"] == []
    assert len(tasks["s-02"]["annotations"]) == 4  # the released spans and each rater's
    path = tmp_path / "tasks.json"
    path.write_bytes(_export(release, "labelstudio"))
    call_command(
        "import_annotations", "ner-again", str(path), "--create", stdout=StringIO(), stderr=StringIO()
    )
    again = Project.objects.get(slug="ner-again")
    names = dict(again.labels.values_list("pk", "name"))
    released = Annotation.objects.get(
        example__project=again, example__external_id="s-05", rater__username="labelstudio-0"
    )
    assert [[s, e, names[label]] for s, e, label in released.spans] == [[4, 7, "PER"]]
    assert again.spans_may_nest  # s-02's spans nest


def test_hugging_face_card_makes_each_span_label_a_class_label(ner, manager, decided):
    import zipfile

    release = _build(ner, manager)
    with zipfile.ZipFile(io.BytesIO(_export(release, "hf"))) as archive:
        card = archive.read("README.md").decode()
    features = card.split("---")[1]
    assert '- name: "spans"\n    list:\n    - name: "start"' in features
    assert '    - name: "label"\n      dtype:\n        class_label:' in features
    assert '  - name: "label"\n    dtype: "string"' in features
    assert 'features["spans"].feature["label"].names' in card


def test_a_diff_between_two_span_releases_shows_changed_spans(ner, manager, decided):
    first = _build(ner, manager)
    _decide(ner, "s-04", [[0, 11, "PER"]])
    _decide(ner, "s-03", [[0, 7, "ORG"]], source="gold", agreement=None)
    second = _build(ner, manager)
    diff = release_diff(old=first, new=second)
    assert diff["counts"]["relabeled"] == 2
    assert {row["external_id"]: (row["old_label"], row["new_label"]) for row in diff["relabeled"]} == {
        "s-03": ("", "0:7:ORG"),
        "s-04": ("0:3:PER", "0:11:PER"),
    }
    assert diff["counts"]["split_changed"] == 0


def test_conll_is_offered_to_span_projects_only(ner, manager, decided, manager_client, other_project):
    release = _build(ner, manager)
    assert "conll" in release_formats(project=ner)
    assert "conll" not in release_formats(project=other_project)
    api = f"/api/v1/projects/{ner.slug}/releases/{release.tag}/"
    assert "conll" in manager_client.get(api).json()["downloads"]
    response = manager_client.get(f"{api}download/conll/")
    assert response.status_code == 200
    assert b"# id = s-01" in b"".join(response.streaming_content)
    page = manager_client.get(f"/projects/{ner.slug}/releases/{release.tag}/")
    assert b'id="download-conll"' in page.content
    ner.task_type = TaskType.SINGLE
    ner.save(update_fields=["task_type"])
    with pytest.raises(NotFound, match="have no 'conll'"):
        release_export_get(release=release, file_format="conll")
    assert manager_client.get(f"{api}download/conll/").status_code == 404


def test_the_sme_rationale_goes_with_the_gold_spans_it_was_written_for(ner, manager, sme, decided):
    from consistency.review.models import Resolution
    from labeling.models import Disagreement

    for external_id, spans in (("s-05", [[4, 7, "PER"]]), ("s-04", [[0, 11, "PER"]])):
        example = ner.examples.get(external_id=external_id)
        case = Disagreement.objects.create(project=ner, example=example, reason="split", status="resolved")
        Resolution.objects.create(
            project=ner,
            disagreement=case,
            example=example,
            label=None,
            spans=_ids(ner, spans),
            verdict="gold",
            rationale=f"why {external_id}",
            sme=sme,
        )
    # s-05's consensus is that gold answer; s-04's consensus is not the SME's spans (it was
    # relabeled since, say): no rationale.
    release = _build(ner, manager, include_rationale=True)
    rationales = dict(
        DatasetReleaseItem.objects.filter(release=release).values_list("external_id", "rationale")
    )
    assert rationales["s-05"] == "why s-05"
    assert rationales["s-04"] is None


def test_the_pages_cut_compare_and_show_span_releases(
    ner, manager, decided, manager_client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    page = manager_client.get(reverse("consistency:releases", args=[ner.slug]))
    assert b'value="dawid_skene"' not in page.content  # single-label projects only
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            reverse("consistency:releases", args=[ner.slug]),
            {"tag": "v1", "sources": ["gold", "unanimous", "majority"], "min_agreement": "0",
             "train": "0.8", "dev": "0.1", "test": "0.1", "stratify_field": ""},
        )  # fmt: skip
    assert response.status_code == 302
    _decide(ner, "s-04", [[0, 11, "PER"]])
    _decide(ner, "s-03", [[0, 7, "ORG"]])
    second = _build(ner, manager)
    detail = manager_client.get(reverse("consistency:release_detail", args=[ner.slug, second.tag]))
    assert detail.status_code == 200
    assert b"<td>PER</td>" in detail.content  # examples per label
    diff = manager_client.get(
        reverse("consistency:release_diff", args=[ner.slug]), {"old": "v1", "new": second.tag}
    )
    assert diff.status_code == 200
    assert b"0:3:PER" in diff.content
    assert b"0:11:PER" in diff.content
    assert b"<td>(no entities)</td><td>0:7:ORG</td>" in diff.content
    browser = manager_client.get(reverse("consistency:examples", args=[ner.slug]), {"release": "v1"})
    assert browser.status_code == 200


def test_export_dataset_writes_conll_for_span_projects_only(ner, decided, project, tmp_path):
    out = tmp_path / "ner.conll"
    call_command("export_dataset", ner.slug, "--format", "conll", "--out", str(out), stdout=StringIO())
    assert _conll_blocks(out.read_bytes())["s-04"][0] == ("AdaLovelace", "B-PER")
    ner.task_type = TaskType.SINGLE
    ner.save(update_fields=["task_type"])
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="for span projects"):
        call_command("export_dataset", ner.slug, "--format", "conll", "--out", str(out), stdout=StringIO())


def test_hugging_face_dataset_of_a_span_release_loads_offline(ner, manager, decided, tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets

    release = _build(ner, manager, ratios=[1.0, 0.0, 0.0])
    folder = tmp_path / "dataset"
    with zipfile.ZipFile(io.BytesIO(_export(release, "hf"))) as archive:
        archive.extractall(folder)
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    features = loaded["train"].features
    names = features["spans"].feature["label"].names
    assert names == ["LOC", "ORG", "PER"]
    assert features["label"].dtype == "string"
    rows = {row["external_id"]: row for row in loaded["train"]}
    assert [(s["start"], s["end"], names[s["label"]]) for s in rows["s-02"]["spans"]] == [
        (0, 15, "ORG"),
        (8, 15, "LOC"),
    ]
    assert rows["s-03"]["spans"] == []
    assert rows["s-02"]["label"] == "0:15:ORG|8:15:LOC"
