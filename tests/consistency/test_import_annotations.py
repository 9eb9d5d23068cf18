"""`manage.py import_annotations`: CSV, JSONL and Label Studio files, all or nothing."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from consistency.models import AgreementReport
from labeling.models import Annotation
from projects.models import Example, Label, Membership, Project, Role
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory

User = get_user_model()

VALID_CSV = """example_id,rater,label,text,channel
t1,alice,billing,My invoice is wrong,email
t1,bob,billing,,
t1,carol,bug,,
t2,alice,feature,Please add dark mode,chat
t2,bob,feature,,
"""


def run(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_annotations", *args[:1], str(path), *args[1:], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path, *args):
    err = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("import_annotations", *args[:1], str(path), *args[1:], stdout=StringIO(), stderr=err)
    return str(info.value), err.getvalue()


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def test_valid_csv_into_an_existing_project(tmp_path, project, django_capture_on_commit_callbacks):
    existing = ExampleFactory(project=project, external_id="t2", text="Please add dark mode")
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run(write(tmp_path, "a.csv", VALID_CSV), "support")
    assert "Imported 5 annotations" in out
    t1 = Example.objects.get(project=project, external_id="t1")
    assert t1.text == "My invoice is wrong"
    assert t1.metadata == {"channel": "email"}
    assert t1.annotation_count == 3
    existing.refresh_from_db()
    assert existing.annotation_count == 2
    annotation = Annotation.objects.get(example=t1, rater__username="carol")
    assert annotation.label.name == "bug"
    assert annotation.source == Annotation.Source.IMPORT
    assert annotation.guideline_version is None
    alice = User.objects.get(username="alice")
    assert not alice.is_active
    assert not alice.has_usable_password()
    assert Membership.objects.get(user=alice, project=project).role == Role.LABELER
    # The agreement report refreshes after the import.
    assert AgreementReport.objects.get(project=project).status == AgreementReport.Status.SUCCEEDED


def test_existing_annotations_of_the_same_rater_are_kept_and_the_row_skipped(tmp_path, project):
    alice = UserFactory(username="alice")
    example = ExampleFactory(project=project, external_id="t1")
    label = project.labels.get(name="other")
    AnnotationFactory(example=example, rater=alice, label=label)
    out, _ = run(write(tmp_path, "a.csv", VALID_CSV), "support")
    assert "Imported 4 annotations" in out
    assert "1 skipped" in out
    assert Annotation.objects.get(example=example, rater=alice).label == label
    assert alice.is_active  # an existing account is left as it was
    assert Membership.objects.filter(user=alice, project=project, role=Role.LABELER).exists()


def test_jsonl_with_bom_and_numbers(tmp_path, project):
    lines = [
        {"example_id": 17, "rater": "alice", "label": "bug", "text": "Crash on start", "priority": 2},
        {"example_id": 17, "rater": "bob", "label": "bug"},
    ]
    content = "\ufeff" + "\n".join(json.dumps(line) for line in lines) + "\n\n"
    run(write(tmp_path, "a.jsonl", content), "support")
    example = Example.objects.get(project=project, external_id="17")
    assert example.metadata == {"priority": 2}
    assert example.annotation_count == 2


LABEL_STUDIO = [
    {
        "id": 101,
        "data": {"text": "The app crashes", "source": "play store"},
        "annotations": [
            {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["Bug"]}}]},
            {"completed_by": {"id": 2, "email": "bo@example.com"}, "result": [
                {"type": "choices", "value": {"choices": ["Bug"]}}]},
            {"completed_by": 3, "was_cancelled": True, "result": []},
        ],
    },
    {
        "id": 102,
        "data": {"text": "How much is it?"},
        "annotations": [
            {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["Pricing"]}}]},
            {"completed_by": {"id": 2, "email": "bo@example.com"}, "result": [
                {"type": "choices", "value": {"choices": ["Bug"]}}]},
        ],
    },
]  # fmt: skip


def test_label_studio_export_with_create_makes_project_labels_and_inactive_raters(tmp_path, db):
    out, _ = run(write(tmp_path, "export.json", json.dumps(LABEL_STUDIO)), "appstore", "--create")
    project = Project.objects.get(slug="appstore")
    labels = list(
        Label.objects.filter(project=project).order_by("position").values_list("name", "shortcut_key")
    )
    assert labels == [("Bug", "1"), ("Pricing", "2")]
    assert "New labels: Bug, Pricing" in out
    assert Annotation.objects.filter(example__project=project).count() == 4
    raters = User.objects.filter(annotations__example__project=project).distinct()
    assert sorted(raters.values_list("username", flat=True)) == ["bo@example.com", "labelstudio-1"]
    assert not any(user.is_active for user in raters)
    example = Example.objects.get(project=project, external_id="101")
    assert example.metadata == {"source": "play store"}
    assert example.annotation_count == 2


def test_create_assigns_shortcut_keys_past_nine_avoiding_reserved_letters(tmp_path, db):
    rows = ["example_id,rater,label,text"] + [f"e{i},r{i},L{i:02d},text {i}" for i in range(14)]
    run(write(tmp_path, "a.csv", "\n".join(rows)), "big", "--create")
    keys = list(
        Label.objects.filter(project__slug="big").order_by("position").values_list("shortcut_key", flat=True)
    )
    assert keys == list("123456789") + ["b", "c", "d", "e", "f"]
    assert not {"a", "s", "u", "n"} & set(keys)


MALFORMED = {
    "missing_column.csv": ("example_id,rater\nt1,alice\n", "line 1, field label"),
    "empty_label.csv": ("example_id,rater,label,text\nt1,alice,,hello\n", "line 2, field label"),
    "unknown_label.csv": (
        "example_id,rater,label,text\nt1,alice,billing,hi\nt1,bob,refund,\n",
        "line 3, field label",
    ),
    "unknown_example.csv": ("example_id,rater,label\nt1,alice,billing\n", "line 2, field example_id"),
    "twice.csv": ("example_id,rater,label,text\nt1,alice,billing,x\nt1,alice,bug,\n", "line 3, field rater"),
    "bad_rater.csv": ("example_id,rater,label,text\nt1,al ice,billing,x\n", "line 2, field rater"),
    "columns.csv": ("example_id,rater,label,text\nt1,alice,billing,x,extra\n", "line 2"),
    "broken.jsonl": (
        '{"example_id": "t1", "rater": "a", "label": "bug", "text": "x"}\n{"example_id": \n',
        "line 2",
    ),
    "not_object.jsonl": ('["t1", "alice", "bug"]\n', "line 1"),
    "latin1.csv": ("example_id,rater,label,text\nt1,alice,billing,caf\xe9\n".encode("latin-1"), "line 2"),
    "two_choices.json": (
        json.dumps([{"id": 1, "data": {"text": "x"}, "annotations": [
            {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["bug", "other"]}}]}]}]),
        "task 1, field annotations[0].result",
    ),
    "no_rater.json": (
        json.dumps([{"id": 1, "data": {"text": "x"}, "annotations": []},
                    {"id": 2, "data": {"text": "y"}, "annotations": [
                        {"result": [{"type": "choices", "value": {"choices": ["bug"]}}]}]}]),
        "task 2, field annotations[0].completed_by",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_are_rejected_naming_line_and_field_and_nothing_is_written(tmp_path, project, name):
    content, expected = MALFORMED[name]
    before = (
        Annotation.objects.count(),
        Example.objects.count(),
        User.objects.count(),
        Label.objects.count(),
    )
    message, errors = run_failing(write(tmp_path, name, content), "support")
    assert expected in errors, errors
    assert "nothing was imported" in message
    after = (Annotation.objects.count(), Example.objects.count(), User.objects.count(), Label.objects.count())
    assert after == before


def test_one_bad_row_among_good_ones_writes_nothing(tmp_path, project):
    content = VALID_CSV + "t3,dave,nonsense,Some text,chat\n"
    _, errors = run_failing(write(tmp_path, "a.csv", content), "support")
    assert "line 7, field label: Unknown label 'nonsense'" in errors
    assert not Annotation.objects.exists()
    assert not Example.objects.exists()
    assert not User.objects.filter(username="alice").exists()


def test_only_the_first_50_errors_are_printed(tmp_path, project):
    rows = ["example_id,rater,label"] + [f"e{i},r{i}," for i in range(80)]
    message, errors = run_failing(write(tmp_path, "a.csv", "\n".join(rows)), "support")
    assert "80 error(s)" in message
    assert len([line for line in errors.splitlines() if line.startswith("line ")]) == 50
    assert "and 30 more" in errors


def test_unknown_project_without_create_is_an_error(tmp_path, db):
    message, _ = run_failing(write(tmp_path, "a.csv", VALID_CSV), "nope")
    assert "pass --create" in message
    assert not Project.objects.exists()
    assert not User.objects.exists()


def test_csv_with_a_byte_order_mark(tmp_path, project):
    out, _ = run(write(tmp_path, "a.csv", "\ufeff" + VALID_CSV), "support")
    assert "Imported 5 annotations" in out
