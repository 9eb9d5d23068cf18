"""`manage.py import_annotations` for span projects: JSONL `spans` lists and Label Studio `labels`
results (UTF-16 offsets), checked against the example's text, the project's labels and its
nesting rule; --create makes a span project; bad spans are named by line and field and nothing is
written; the imported spans are decided like any other answers."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Annotation, ConsensusLabel, Disagreement
from projects.models import Example, Project, TaskType
from tests.factories import ExampleFactory, LabelFactory, ProjectFactory

TEXT = "Ada Lovelace met Babbage in London."


@pytest.fixture
def ner(db):
    project = ProjectFactory(name="People", slug="ner", task_type=TaskType.SPANS)
    for position, (name, key) in enumerate([("PER", "1"), ("ORG", "2"), ("LOC", "3")]):
        LabelFactory(project=project, name=name, shortcut_key=key, position=position)
    return project


def run(path, *args):
    out = StringIO()
    call_command("import_annotations", *args[:1], str(path), *args[1:], stdout=out, stderr=StringIO())
    return out.getvalue()


def run_failing(path, *args):
    err = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("import_annotations", *args[:1], str(path), *args[1:], stdout=StringIO(), stderr=err)
    return str(info.value) + err.getvalue()


def jsonl(tmp_path, rows, name="spans.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def span(start, end, label):
    return {"start": start, "end": end, "label": label}


def named(spans, project):
    names = dict(project.labels.values_list("pk", "name"))
    return [[start, end, names[label]] for start, end, label in spans]


def stored(project, external_id, rater):
    annotation = Annotation.objects.get(
        example__project=project, example__external_id=external_id, rater__username=rater
    )
    return named(annotation.spans, project)


def test_jsonl_spans_import_sorted_by_offset_with_label_ids(tmp_path, ner):
    rows = [
        {
            "example_id": "e1",
            "rater": "ann",
            "text": TEXT,
            "spans": [span(17, 24, "PER"), span(0, 12, "PER")],
        },
        {"example_id": "e1", "rater": "bob", "spans": [span("0", "12", " PER ")]},
        {"example_id": "e2", "rater": "ann", "text": "Nothing here.", "spans": []},
    ]
    out = run(jsonl(tmp_path, rows), "ner")
    assert "Imported 3 annotations" in out
    assert stored(ner, "e1", "ann") == [[0, 12, "PER"], [17, 24, "PER"]]
    assert stored(ner, "e1", "bob") == [[0, 12, "PER"]]
    assert stored(ner, "e2", "ann") == []
    empty = Annotation.objects.get(example__external_id="e2")
    assert (empty.label_id, empty.labels, empty.spans) == (None, None, [])


def test_spans_on_an_existing_example_are_checked_against_its_text_in_concord(tmp_path, ner):
    ExampleFactory(project=ner, external_id="e1", text=TEXT)
    run(jsonl(tmp_path, [{"example_id": "e1", "rater": "ann", "spans": [span(28, 34, "LOC")]}]), "ner")
    assert stored(ner, "e1", "ann") == [[28, 34, "LOC"]]
    message = run_failing(
        jsonl(tmp_path, [{"example_id": "e1", "rater": "bob", "spans": [span(28, 40, "LOC")]}], "far.jsonl"),
        "ner",
    )
    assert "line 1, column spans[0].end: spans[0].end 40 is outside the text (0 to 35 characters)" in message


@pytest.mark.parametrize(
    ("spans", "field", "words"),
    [
        ([span(0, 12, "PER"), span(13, 99, "PER")], "spans[1].end", "outside the text"),
        ([span(-1, 3, "PER")], "spans[0].start", "outside the text"),
        ([span(12, 12, "PER")], "spans[0].end", "at or before it starts"),
        ([span(0, 3, "DATE")], "spans[0].label", "'DATE' is not one of this project's labels"),
        ([span(0, 12, "PER"), span(4, 12, "ORG")], "spans[1]", "this project does not let spans nest"),
        ([span(0, 12, "PER"), span(4, 20, "ORG")], "spans[1]", "cross"),
        ([span(0, 3, "PER"), span(0, 3, "PER")], "spans[1]", "given twice"),
        ([{"start": 0, "label": "PER"}], "spans[0].end", "end is missing"),
        ("PER 0 3", "spans", "must be a list"),
    ],
)
def test_bad_spans_are_named_by_line_and_field_and_nothing_is_written(tmp_path, ner, spans, field, words):
    rows = [
        {"example_id": "ok", "rater": "ann", "text": TEXT, "spans": [span(0, 3, "PER")]},
        {"example_id": "e1", "rater": "ann", "text": TEXT, "spans": spans},
    ]
    message = run_failing(jsonl(tmp_path, rows), "ner")
    assert f"line 2, column {field}: " in message
    assert words in message
    assert not Annotation.objects.exists()
    assert not Example.objects.exists()


def test_nested_spans_are_accepted_where_the_project_lets_them_nest(tmp_path, ner):
    ner.spans_may_nest = True
    ner.save()
    rows = [
        {"example_id": "e1", "rater": "ann", "text": TEXT, "spans": [span(0, 12, "PER"), span(0, 3, "PER")]}
    ]
    run(jsonl(tmp_path, rows), "ner")
    assert stored(ner, "e1", "ann") == [[0, 3, "PER"], [0, 12, "PER"]]


def test_a_row_text_that_is_not_the_example_text_is_refused(tmp_path, ner):
    ExampleFactory(project=ner, external_id="e1", text=TEXT)
    rows = [{"example_id": "e1", "rater": "ann", "text": "Ada met Babbage.", "spans": [span(0, 3, "PER")]}]
    message = run_failing(jsonl(tmp_path, rows), "ner")
    assert "line 1, column text: the text is not the example's text" in message
    assert not Annotation.objects.exists()


def test_create_makes_a_span_project_with_the_file_labels_nesting_if_the_file_nests(tmp_path, db):
    rows = [
        {"example_id": "e1", "rater": "ann", "text": TEXT, "spans": [span(0, 12, "PER"), span(4, 12, "PER")]},
        {"example_id": "e1", "rater": "bob", "spans": [span(0, 12, "PER"), span(28, 34, "GPE")]},
        {"example_id": "e2", "rater": "ann", "text": "Quiet.", "spans": []},
    ]
    out = run(jsonl(tmp_path, rows), "people", "--create")
    assert "Imported 3 annotations" in out
    project = Project.objects.get(slug="people")
    assert (project.task_type, project.spans_may_nest) == (TaskType.SPANS, True)
    assert list(project.labels.order_by("position").values_list("name", flat=True)) == ["PER", "GPE"]
    assert stored(project, "e1", "bob") == [[0, 12, "PER"], [28, 34, "GPE"]]


def test_create_keeps_spans_from_nesting_when_the_file_never_nests(tmp_path, db):
    rows = [{"example_id": "e1", "rater": "ann", "text": TEXT, "spans": [span(0, 12, "PER")]}]
    run(jsonl(tmp_path, rows), "people", "--create")
    project = Project.objects.get(slug="people")
    assert (project.task_type, project.spans_may_nest) == (TaskType.SPANS, False)


def test_a_file_mixing_spans_and_labels_is_refused_clearly(tmp_path, db):
    rows = [
        {"example_id": "e1", "rater": "ann", "text": TEXT, "spans": [span(0, 12, "PER")]},
        {"example_id": "e2", "rater": "ann", "text": "Quiet.", "label": "PER"},
    ]
    message = run_failing(jsonl(tmp_path, rows), "people", "--create")
    assert (
        "line 2, column label: the file mixes spans (first at line 1) with labels (first at line 2)"
        in message
    )
    assert not Project.objects.filter(slug="people").exists()


def test_a_row_with_both_spans_and_a_label_is_refused(tmp_path, ner):
    rows = [{"example_id": "e1", "rater": "ann", "text": TEXT, "label": "PER", "spans": []}]
    message = run_failing(jsonl(tmp_path, rows), "ner")
    assert (
        "line 1, column spans: give one of 'label' (one label), 'labels' (a set) or 'spans', "
        "not label and spans" in message
    )


def test_spans_into_a_single_label_project_and_labels_into_a_span_project_are_refused_by_line(
    tmp_path, project, ner
):
    rows = [
        {"example_id": "e1", "rater": "ann", "text": TEXT, "label": "bug"},
        {"example_id": "e2", "rater": "ann", "text": TEXT, "spans": [span(0, 3, "bug")]},
    ]
    message = run_failing(jsonl(tmp_path, rows), "support")
    assert "line 2, column spans: spans are for span projects; this project is single-label" in message
    message = run_failing(jsonl(tmp_path, rows[:1], "labels.jsonl"), "ner")
    assert "line 1, column label: this is a span project" in message
    assert not Annotation.objects.exists()


# Label Studio: `labels` results, offsets in UTF-16 code units.

EMOJI_TEXT = "I \U0001f600 Ada Lovelace"  # the emoji is 2 UTF-16 code units, 1 code point


def labelled(rater, *spans, text=None):
    result = []
    for start, end, label in spans:
        value = {"start": start, "end": end, "labels": [label]}
        if text is not None:
            value["text"] = text
        result.append({"type": "labels", "from_name": "label", "to_name": "text", "value": value})
    return {"completed_by": rater, "result": result}


def export(tmp_path, tasks, name="export.json"):
    path = tmp_path / name
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def test_label_studio_labels_results_convert_utf16_offsets_to_code_points(tmp_path, ner):
    ada = labelled(1, (5, 8, "PER"), (9, 17, "PER"))
    ada["result"][0]["value"]["text"] = "Ada"
    tasks = [
        {
            "id": 1,
            "data": {"text": EMOJI_TEXT},
            "annotations": [ada, labelled(2, (5, 17, "PER")), labelled(3)],
        },
    ]
    run(export(tmp_path, tasks), "ner")
    assert EMOJI_TEXT[4:7] == "Ada"
    assert stored(ner, "1", "labelstudio-1") == [[4, 7, "PER"], [8, 16, "PER"]]
    assert stored(ner, "1", "labelstudio-2") == [[4, 16, "PER"]]
    assert stored(ner, "1", "labelstudio-3") == []  # no labels results: no entities


def test_label_studio_offset_inside_a_surrogate_pair_is_refused_by_task_and_field(tmp_path, ner):
    tasks = [{"id": 1, "data": {"text": EMOJI_TEXT}, "annotations": [labelled(1, (3, 8, "PER"))]}]
    message = run_failing(export(tmp_path, tasks), "ner")
    assert "column annotations[0].result[0].value.start: task 1 (id 1):" in message
    assert "surrogate pair" in message
    assert not Annotation.objects.exists()


def test_label_studio_value_text_must_match_the_text_at_the_offsets(tmp_path, ner):
    # Offsets counted in code points by mistake: 4..7 in UTF-16 is " Ad", not "Ada".
    tasks = [{"id": 1, "data": {"text": EMOJI_TEXT}, "annotations": [labelled(1, (4, 7, "PER"), text="Ada")]}]
    message = run_failing(export(tmp_path, tasks), "ner")
    assert "column annotations[0].result[0].value.text: task 1 (id 1): " in message
    assert "UTF-16" in message


def test_label_studio_unknown_span_label_is_refused_naming_the_task(tmp_path, ner):
    tasks = [{"id": 9, "data": {"text": TEXT}, "annotations": [labelled(1, (0, 3, "DATE"))]}]
    message = run_failing(export(tmp_path, tasks), "ner")
    assert "column spans[0].label: task 1: spans[0].label 'DATE' is not one of" in message


def test_label_studio_span_export_with_create_makes_a_span_project(tmp_path, db):
    tasks = [
        {"id": 1, "data": {"text": TEXT}, "annotations": [labelled(1, (0, 12, "PER")), labelled(2)]},
        {"id": 2, "data": {"text": "Quiet."}, "annotations": [labelled(1)]},
    ]
    run(export(tmp_path, tasks), "ls-ner", "--create")
    project = Project.objects.get(slug="ls-ner")
    assert project.task_type == TaskType.SPANS
    assert stored(project, "1", "labelstudio-1") == [[0, 12, "PER"]]


def test_an_empty_label_studio_annotation_is_still_refused_by_a_single_label_project(tmp_path, project):
    tasks = [{"id": 1, "data": {"text": "Hi"}, "annotations": [{"completed_by": 1, "result": []}]}]
    message = run_failing(export(tmp_path, tasks), "support")
    assert "line 1, column result: task 1: no choices result; expected exactly one" in message


def test_span_labels_results_into_a_single_label_project_are_refused(tmp_path, project):
    tasks = [{"id": 1, "data": {"text": TEXT}, "annotations": [labelled(1, (0, 3, "bug"))]}]
    message = run_failing(export(tmp_path, tasks), "support")
    assert "task 1: spans are for span projects; this project is single-label" in message


# Decisions


def test_imported_span_answers_are_decided(tmp_path, ner):
    ner.overlap = 3
    ner.save()
    agree = [span(0, 12, "PER"), span(17, 24, "PER")]
    rows = [
        {"example_id": "same", "rater": rater, "text": TEXT, "spans": agree} for rater in ("ann", "bob", "cy")
    ] + [
        {"example_id": "split", "rater": "ann", "text": TEXT, "spans": [span(0, 12, "PER")]},
        {"example_id": "split", "rater": "bob", "spans": [span(0, 12, "ORG")]},
        {"example_id": "split", "rater": "cy", "spans": [span(0, 3, "LOC")]},
    ]
    run(jsonl(tmp_path, rows), "ner")
    consensus = ConsensusLabel.objects.get(example__external_id="same")
    assert (consensus.source, named(consensus.spans, ner)) == ("unanimous", [[0, 12, "PER"], [17, 24, "PER"]])
    assert Disagreement.objects.filter(example__external_id="split", status="open").exists()
    # An example waiting for its third rater, who comes in a later file: the normal path of
    # existing examples decides it.
    waiting = [
        {"example_id": "wait", "rater": r, "text": TEXT, "spans": [span(28, 34, "LOC")]}
        for r in ("ann", "bob")
    ]
    run(jsonl(tmp_path, waiting, "two.jsonl"), "ner")
    assert not ConsensusLabel.objects.filter(example__external_id="wait").exists()
    third = [{"example_id": "wait", "rater": "cy", "spans": [span(28, 34, "LOC")]}]
    out = run(jsonl(tmp_path, third, "third.jsonl"), "ner")
    assert "1 accepted (1 unanimous" in out
    consensus = ConsensusLabel.objects.get(example__external_id="wait")
    assert named(consensus.spans, ner) == [[28, 34, "LOC"]]


def test_the_api_import_of_spans_names_line_and_field_and_writes_nothing(
    project, manager, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.api.conftest import token_client

    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    rows = [
        {"example_id": "t1", "rater": "ann", "text": TEXT, "spans": [span(0, 3, "bug")]},
        {"example_id": "t1", "rater": "ben", "spans": [span(0, 3, "bug"), span(2, 40, "bug")]},
    ]
    content = "".join(json.dumps(row) + "\n" for row in rows).encode()
    api = token_client(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/projects/support/annotations/import/",
            {"file": SimpleUploadedFile("spans.jsonl", content, content_type="application/x-ndjson")},
        )
    status = api.get(response.json()["url"]).json()
    assert status["status"] == "failed"
    assert [(e["line"], e["column"]) for e in status["errors"]] == [(2, "spans[1].end")]
    assert "outside the text" in status["errors"][0]["message"]
    assert not Annotation.objects.exists()


def test_label_studio_choices_into_a_span_project_are_refused_by_task(tmp_path, ner):
    choice = {"type": "choices", "from_name": "sentiment", "value": {"choices": ["PER"]}}
    tasks = [{"id": 1, "data": {"text": TEXT}, "annotations": [{"completed_by": 1, "result": [choice]}]}]
    message = run_failing(export(tmp_path, tasks), "ner")
    assert (
        "line 1, column result: task 1: this is a span project: give labels results (spans), not choices"
        in message
    )


def test_label_studio_with_several_labels_controls_needs_from_name(tmp_path, ner):
    two = labelled(1, (0, 3, "PER"), (17, 24, "PER"))
    two["result"][1]["from_name"] = "other_ner"
    tasks = [{"id": 1, "data": {"text": TEXT}, "annotations": [two]}]
    path = export(tmp_path, tasks)
    message = run_failing(path, "ner")
    assert "several labels controls ('label', 'other_ner'); pick one with --from-name" in message
    message = run_failing(path, "ner", "--from-name", "nope")
    assert "no labels control named 'nope'" in message
    run(path, "ner", "--from-name", "other_ner")
    assert stored(ner, "1", "labelstudio-1") == [[17, 24, "PER"]]


def test_imported_spans_reach_a_release(tmp_path, ner, manager):
    from consistency.releases.services import release_build

    rows = [
        {"example_id": "e1", "rater": rater, "text": TEXT, "spans": [span(28, 34, "LOC"), span(0, 12, "PER")]}
        for rater in ("ann", "bob", "cy")
    ]
    run(jsonl(tmp_path, rows), "ner")
    release = release_build(project=ner, user=manager, policy={"seed": "s"})
    (item,) = release.items.all()
    assert (item.spans, item.label, item.source) == (
        [[0, 12, "PER"], [28, 34, "LOC"]],
        "0:12:PER|28:34:LOC",
        "unanimous",
    )


def test_create_refuses_a_span_label_name_that_cannot_be_a_label(tmp_path, db):
    rows = [{"example_id": "e1", "rater": "ann", "text": TEXT, "spans": [span(0, 3, "PER|ORG")]}]
    message = run_failing(jsonl(tmp_path, rows), "people", "--create")
    assert "line 1, column spans[0].label: spans[0].label 'PER|ORG' is not one of" in message
    assert "no |" in message
