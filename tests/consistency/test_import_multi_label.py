"""`manage.py import_annotations` for multi-label projects: a `labels` column (`|`-separated) in
CSV, a JSON list in JSONL, Label Studio multi-choice annotations; --create makes the project
multi-label; bad lines are named and nothing is written."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Annotation, ConsensusLabel, Disagreement
from projects.models import Example, Project

SETS_CSV = """example_id,rater,labels,text
m1,alice,billing|bug,Charged twice and then it crashed
m1,bob,bug|billing,
m1,carol,billing|bug,
m2,alice,feature,Add an export button
m2,bob,billing,
m2,carol,bug,
"""


def run(path, *args):
    out = StringIO()
    call_command("import_annotations", *args[:1], str(path), *args[1:], stdout=out, stderr=StringIO())
    return out.getvalue()


def run_failing(path, *args):
    err = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("import_annotations", *args[:1], str(path), *args[1:], stdout=StringIO(), stderr=err)
    return str(info.value) + err.getvalue()


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def chose(rater: int, *choices: str) -> dict:
    """A Label Studio annotation by user `rater` with these choices."""
    result = [{"type": "choices", "from_name": "topics", "value": {"choices": list(choices)}}]
    return {"completed_by": rater, "result": result}


def names(annotation):
    by_id = dict(annotation.example.project.labels.values_list("pk", "name"))
    return [by_id[pk] for pk in annotation.labels]


def test_a_labels_column_imports_sets_and_decides_them(tmp_path, multi_project):
    out = run(write(tmp_path, "sets.csv", SETS_CSV), "support")
    assert "Imported 6 annotations" in out
    m1 = Example.objects.get(project=multi_project, external_id="m1")
    stored = Annotation.objects.get(example=m1, rater__username="bob")
    assert (stored.label_id, names(stored)) == (None, ["billing", "bug"])
    # Identical sets: unanimous; three different sets: queued.
    consensus = ConsensusLabel.objects.get(example=m1)
    assert (consensus.source, sorted(consensus.labels)) == ("unanimous", sorted(stored.labels))
    assert Disagreement.objects.filter(example__external_id="m2", status="open").exists()


def test_a_jsonl_list_imports_a_set_and_an_empty_list_is_none_of_these(tmp_path, multi_project):
    multi_project.allow_empty_label_set = True
    multi_project.save()
    lines = [
        {"example_id": "j1", "rater": "alice", "labels": ["other", "bug"], "text": "Odd"},
        {"example_id": "j1", "rater": "bob", "labels": []},
    ]
    run(write(tmp_path, "sets.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n"), "support")
    by_rater = {a.rater.username: names(a) for a in Annotation.objects.all()}
    assert by_rater == {"alice": ["bug", "other"], "bob": []}


def test_create_with_a_labels_column_makes_a_multi_label_project(tmp_path, db):
    content = (
        "example_id,rater,labels,text\nn1,ann,toxic|spam,Buy now you idiot\nn1,ben,spam,\nn2,ann,,Fine\n"
    )
    out = run(write(tmp_path, "new.csv", content), "moderation", "--create")
    assert "Imported 3 annotations" in out
    project = Project.objects.get(slug="moderation")
    assert project.task_type == "multi"
    assert project.allow_empty_label_set  # the file has an empty set
    assert list(project.labels.order_by("position").values_list("name", flat=True)) == ["toxic", "spam"]
    ann = Annotation.objects.get(example__external_id="n1", rater__username="ann")
    assert names(ann) == ["toxic", "spam"]


def test_label_studio_multi_choice_annotations_import_as_sets(tmp_path, db):
    tasks = [
        {
            "id": 7,
            "data": {"text": "Refund me, the app froze"},
            "annotations": [chose(1, "Billing", "Bug"), chose(2, "Bug")],
        }
    ]
    run(write(tmp_path, "export.json", json.dumps(tasks)), "ls-multi", "--create")
    project = Project.objects.get(slug="ls-multi")
    assert project.task_type == "multi"
    by_rater = {a.rater.username: sorted(names(a)) for a in Annotation.objects.all()}
    assert by_rater == {"labelstudio-1": ["Billing", "Bug"], "labelstudio-2": ["Bug"]}


def test_label_studio_multi_choice_into_a_single_label_project_names_the_line(tmp_path, project):
    tasks = [
        {
            "id": 7,
            "data": {"text": "Refund me"},
            "annotations": [chose(1, "bug", "billing")],
        }
    ]
    message = run_failing(write(tmp_path, "export.json", json.dumps(tasks)), "support")
    assert "line 1, column result: task 1: 2 choices selected" in message
    assert not Annotation.objects.exists()
    assert not Example.objects.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("example_id,rater,labels,text\nb1,ann,bug|nope,T\n", "line 2"),
        ("example_id,rater,labels,text\nb1,ann,bug|nope,T\n", "unknown label 'nope'"),
        ("example_id,rater,labels,text\nb1,ann,bug,T\nb2,ann,bug|bug,T\n", "the label 'bug' is given twice"),
        ("example_id,rater,labels,text\nb1,ann,bug,T\nb2,ann,,T\n", "does not allow it"),
        ("example_id,rater,label,text\nb1,ann,bug,T\n", "this project is multi-label"),
        ("example_id,rater,label,labels,text\nb1,ann,bug,bug,T\n", "both a 'label' and a 'labels' column"),
    ],
)
def test_bad_lines_are_named_and_nothing_is_written(tmp_path, multi_project, content, words):
    message = run_failing(write(tmp_path, "bad.csv", content), "support")
    assert words in message
    assert not Annotation.objects.exists()
    assert not Example.objects.exists()


def test_a_labels_column_into_a_single_label_project_is_refused(tmp_path, project):
    message = run_failing(write(tmp_path, "sets.csv", SETS_CSV), "support")
    assert "line 2" in message
    assert "a set of labels ('labels') is for multi-label projects" in message
    assert not Annotation.objects.exists()


def test_a_label_name_with_the_set_separator_is_refused_by_line(tmp_path, db):
    # With --create the file's names become labels; "a|b" could never be told from two labels
    # in a CSV cell or a release's CSV, so it is refused where it is first given.
    rows = [
        {"example_id": "b1", "rater": "ann", "labels": ["bug"], "text": "T"},
        {"example_id": "b2", "rater": "ann", "labels": ["bug", "billing|refund"], "text": "U"},
    ]
    content = "\n".join(json.dumps(row) for row in rows) + "\n"
    message = run_failing(write(tmp_path, "sets.jsonl", content), "fresh", "--create")
    assert "line 2" in message
    assert "'billing|refund' contains |" in message
    assert not Annotation.objects.exists()
