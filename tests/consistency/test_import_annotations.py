"""`manage.py import_annotations`: long CSV/TSV/JSONL and Label Studio files, all or nothing, rater
names mapped to stable accounts, and the project's decision rules run on what was imported."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from consistency.agreement.models import AgreementReport
from labeling.models import Annotation, ConsensusLabel, Disagreement
from labeling.services.imports import rater_account
from projects.models import Example, ImportBatch, Label, Membership, Project, Role
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
    # The command ran the same background job an upload queues, and kept its record.
    batch = ImportBatch.objects.get(project=project)
    assert (batch.kind, batch.status, batch.rows_created) == ("annotations", "succeeded", 5)


def test_the_decision_rules_run_on_the_imported_examples(tmp_path, project):
    # Overlap 3, majority threshold 0.66, majorities queued for review (the project defaults).
    content = """example_id,rater,label,text
t1,alice,billing,Charged twice
t1,bob,billing,
t1,carol,billing,
t2,alice,bug,The app crashes
t2,bob,bug,
t2,carol,feature,
t3,alice,bug,Slow
t3,bob,feature,
t3,carol,other,
t4,alice,bug,Only two so far
t4,bob,bug,
"""
    out, _ = run(write(tmp_path, "a.csv", content), "support")
    assert "1 unanimous, 0 majority), 2 queued for review, 1 waiting for more raters" in out
    t1 = ConsensusLabel.objects.get(example__external_id="t1")
    assert (t1.label.name, t1.source, t1.agreement, t1.n_raters) == ("billing", "unanimous", 1.0, 3)
    queued = {d.example.external_id: d.reason for d in Disagreement.objects.filter(status="open")}
    assert queued == {"t2": "majority_review", "t3": "split"}
    assert not ConsensusLabel.objects.filter(example__external_id__in=["t2", "t3", "t4"]).exists()


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


def test_the_same_file_imported_twice_adds_nothing(tmp_path, project):
    path = write(tmp_path, "a.csv", VALID_CSV)
    run(path, "support")
    out, _ = run(path, "support")
    assert "Imported 0 annotations into support (5 skipped" in out
    assert Annotation.objects.count() == 5
    assert Example.objects.count() == 2


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


def test_tsv(tmp_path, project):
    content = "example_id\trater\tlabel\ttext\nt1\talice\tbug\tcomma, inside\nt1\tbob\tbug\t\n"
    out, _ = run(write(tmp_path, "a.tsv", content), "support")
    assert "Imported 2 annotations" in out
    assert Example.objects.get(external_id="t1").text == "comma, inside"


def test_long_format_without_text_creates_text_less_examples_with_create(tmp_path, db):
    content = "example_id,rater,label,batch\nq1,ann,yes,b1\nq1,ben,yes,b1\nq2,ann,no,b2\nq2,ben,yes,b2\n"
    out, _ = run(write(tmp_path, "votes.csv", content), "survey", "--create")
    project = Project.objects.get(slug="survey")
    assert "Created 2 examples (2 without text)" in out
    q1 = Example.objects.get(project=project, external_id="q1")
    assert (q1.text, q1.metadata, q1.annotation_count) == ("", {"batch": "b1"}, 2)
    assert project.overlap == 2  # the most common number of raters per example in the file
    assert project.accept_majority
    assert "with overlap 2" in out


def test_new_examples_are_numbered_in_file_order(tmp_path, project):
    ids = ["zeta", "alpha", "mu", "beta", "omega", "delta"]
    content = "example_id,rater,label,text\n" + "".join(f"{i},ann,bug,Text of {i}\n" for i in ids)
    run(write(tmp_path, "a.csv", content), "support")
    assert list(Example.objects.order_by("pk").values_list("external_id", flat=True)) == ids


def test_unknown_examples_without_text_are_an_error_without_create(tmp_path, project):
    message, errors = run_failing(
        write(tmp_path, "a.csv", "example_id,rater,label\nt9,alice,bug\n"), "support"
    )
    assert "line 2, column example_id: unknown example 't9' and no text to create it" in errors
    assert "nothing was imported" in message
    assert not Example.objects.exists()


def test_create_on_an_existing_project_adds_text_less_examples_and_labels(tmp_path, project):
    content = "example_id,rater,label\nn1,alice,bug\nn1,bob,refund\n"
    out, _ = run(write(tmp_path, "a.csv", content), "support", "--create")
    assert "New labels: refund" in out
    assert Example.objects.get(project=project, external_id="n1").text == ""
    project.refresh_from_db()
    assert project.overlap == 3
    assert not project.accept_majority


def test_text_less_examples_are_never_handed_out_to_labelers(tmp_path, project, labeler):
    from labeling.selectors import examples_remaining
    from labeling.services.annotations import assignment_next

    run(write(tmp_path, "a.csv", "example_id,rater,label\nn1,alice,bug\n"), "support", "--create")
    ExampleFactory(project=project, external_id="readable", text="Something to read")
    assignment = assignment_next(project=project, user=labeler)
    assert assignment.example.external_id == "readable"
    assert examples_remaining(project) == 1


@pytest.mark.parametrize(
    ("name", "username"),
    [
        ("alice", "alice"),
        ("bo@example.com", "bo@example.com"),
        ("李", "李"),
        ("Mary O'Neil", "mary-oneil-"),
        ("j. doe", "j-doe-"),
        ("李 王", "李-王-"),
        ("'!?'", "rater-"),
    ],
)
def test_rater_names_map_to_valid_stable_usernames(name, username):
    from django.contrib.auth.validators import UnicodeUsernameValidator

    mapped, display = rater_account(name)
    assert mapped.startswith(username)
    assert display == name
    UnicodeUsernameValidator()(mapped)
    assert rater_account(name) == (mapped, display)
    assert len(mapped) <= 150


def test_printable_rater_names_are_accepted_and_land_on_the_same_account_every_time(tmp_path, project):
    content = (
        "example_id,rater,label,text\n"
        "t1,Mary O'Neil,bug,Crash\n"
        "t1,j. doe,bug,\n"
        "t1,李,bug,\n"
        't1,"  Mary\u00a0 O\'Neil ",billing,\n'  # the same person, spaced differently: one account
    )
    _, errors = run_failing(write(tmp_path, "a.csv", content), "support")
    assert "line 5, column rater: \"Mary O'Neil\" already labelled the example 't1' (line 2)" in errors

    out, _ = run(write(tmp_path, "b.csv", "\n".join(content.splitlines()[:4]) + "\n"), "support")
    assert "Imported 3 annotations" in out
    mary = User.objects.get(username=rater_account("Mary O'Neil")[0])
    assert (mary.first_name, mary.is_active) == ("Mary O'Neil", False)
    assert User.objects.filter(username="李").exists()
    assert '"Mary O\'Neil" -> mary-oneil-' in out

    again = "example_id,rater,label,text\nt2,Mary O'Neil,feature,Dark mode please\n"
    run(write(tmp_path, "c.csv", again), "support")
    assert Annotation.objects.filter(rater=mary).count() == 2
    assert User.objects.filter(first_name="Mary O'Neil").count() == 1


def test_a_name_that_is_an_existing_username_maps_to_that_account(tmp_path, project):
    maria = UserFactory(username="maria.s")
    run(write(tmp_path, "a.csv", "example_id,rater,label,text\nt1,maria.s,bug,Crash\n"), "support")
    assert Annotation.objects.get().rater == maria
    maria.refresh_from_db()
    assert maria.is_active
    assert maria.first_name == ""


LABEL_STUDIO = [
    {
        "id": 101,
        "data": {"text": "The app crashes", "source": "play store"},
        "annotations": [
            {"completed_by": 1, "result": [{"type": "choices", "from_name": "intent", "to_name": "text",
                                            "value": {"choices": ["Bug"]}}]},
            {"completed_by": {"id": 2, "email": "bo@example.com"}, "result": [
                {"type": "choices", "from_name": "intent", "value": {"choices": ["Bug"]}}]},
            {"completed_by": 3, "was_cancelled": True, "result": []},
        ],
    },
    {
        "id": 102,
        "data": {"text": "How much is it?"},
        "annotations": [
            {"completed_by": 1, "result": [{"type": "choices", "from_name": "intent",
                                            "value": {"choices": ["Pricing"]}}]},
            {"completed_by": 2, "result": [  # the same user as above, without the email this time
                {"type": "choices", "from_name": "intent", "value": {"choices": ["Bug"]}}]},
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
    example = Example.objects.get(project=project, external_id="101")
    assert example.metadata == {"source": "play store"}
    assert example.annotation_count == 2


def test_label_studio_users_map_by_id_keeping_the_email_for_display(tmp_path, db):
    run(write(tmp_path, "export.json", json.dumps(LABEL_STUDIO)), "appstore", "--create")
    raters = User.objects.filter(annotations__example__project__slug="appstore").distinct()
    assert sorted(raters.values_list("username", flat=True)) == ["labelstudio-1", "labelstudio-2"]
    bo = User.objects.get(username="labelstudio-2")
    assert (bo.first_name, bo.email, bo.is_active) == ("bo@example.com", "bo@example.com", False)
    assert Annotation.objects.filter(rater=bo).count() == 2  # as a bare id and with the email: one rater


def test_label_studio_cancelled_annotations_are_counted_and_reported(tmp_path, db):
    out, _ = run(write(tmp_path, "export.json", json.dumps(LABEL_STUDIO)), "appstore", "--create")
    assert "1 annotations cancelled in Label Studio were not imported." in out
    assert ImportBatch.objects.get().summary["cancelled"] == 1
    assert not User.objects.filter(username="labelstudio-3").exists()


def test_label_studio_all_cancelled_is_an_error_that_says_so(tmp_path, project):
    tasks = [{"id": 1, "data": {"text": "x"}, "annotations": [{"completed_by": 1, "was_cancelled": True}]}]
    message, errors = run_failing(write(tmp_path, "export.json", json.dumps(tasks)), "support")
    assert "no annotations to import (1 were cancelled in Label Studio)" in errors


def test_label_studio_export_imported_twice_adds_nothing(tmp_path, db):
    path = write(tmp_path, "export.json", json.dumps(LABEL_STUDIO))
    run(path, "appstore", "--create")
    out, _ = run(path, "appstore")
    assert "Imported 0 annotations into appstore (4 skipped" in out
    assert Example.objects.count() == 2
    assert sorted(Example.objects.values_list("external_id", flat=True)) == ["101", "102"]
    assert User.objects.filter(username__startswith="labelstudio-").count() == 2


TWO_CONTROLS = [
    {
        "id": 7,
        "data": {"text": "Great app but it crashes"},
        "annotations": [
            {"completed_by": 1, "result": [
                {"type": "choices", "from_name": "sentiment", "value": {"choices": ["positive"]}},
                {"type": "choices", "from_name": "topic", "value": {"choices": ["stability"]}},
            ]},
            {"completed_by": 2, "result": [
                {"type": "choices", "from_name": "sentiment", "value": {"choices": ["negative"]}},
                {"type": "choices", "from_name": "topic", "value": {"choices": ["stability"]}},
            ]},
        ],
    }
]  # fmt: skip


def test_label_studio_with_several_controls_needs_from_name_and_names_them(tmp_path, db):
    path = write(tmp_path, "export.json", json.dumps(TWO_CONTROLS))
    message, errors = run_failing(path, "reviews", "--create")
    assert "several choices controls ('sentiment', 'topic'); pick one with --from-name" in errors
    assert not Project.objects.exists()  # the project --create made is gone again with the failure


def test_label_studio_from_name_picks_the_control(tmp_path, db):
    path = write(tmp_path, "export.json", json.dumps(TWO_CONTROLS))
    run(path, "reviews", "--create", "--from-name", "topic")
    labels = set(Annotation.objects.values_list("label__name", flat=True))
    assert labels == {"stability"}
    run(path, "sentiment", "--create", "--from-name", "sentiment")
    assert set(
        Annotation.objects.filter(example__project__slug="sentiment").values_list("label__name", flat=True)
    ) == {"positive", "negative"}


def test_label_studio_unknown_from_name_lists_the_controls(tmp_path, db):
    path = write(tmp_path, "export.json", json.dumps(TWO_CONTROLS))
    _, errors = run_failing(path, "reviews", "--create", "--from-name", "mood")
    assert errors.splitlines()[0] == (
        "line 1, column from_name: the export has no choices control named 'mood' "
        "(found 'sentiment', 'topic')"
    )


def test_create_assigns_shortcut_keys_past_nine_avoiding_reserved_letters(tmp_path, db):
    rows = ["example_id,rater,label,text"] + [f"e{i},r{i},L{i:02d},text {i}" for i in range(14)]
    run(write(tmp_path, "a.csv", "\n".join(rows)), "big", "--create")
    keys = list(
        Label.objects.filter(project__slug="big").order_by("position").values_list("shortcut_key", flat=True)
    )
    assert keys == list("123456789") + ["b", "c", "d", "e", "f"]
    assert not {"a", "s", "u", "n"} & set(keys)


def test_more_new_labels_than_shortcut_keys_is_a_clear_error(tmp_path, db):
    rows = ["example_id,rater,label,text"] + [f"e{i},r{i},L{i:02d},text {i}" for i in range(40)]
    message, errors = run_failing(write(tmp_path, "a.csv", "\n".join(rows)), "big", "--create")
    assert "file: The file has 40 new labels but only 31 shortcut keys are free." in errors
    assert not Project.objects.exists()
    assert not Label.objects.exists()


DEEP = "[" * 5000 + "]" * 5000

HEADER = "example_id,rater,label,text\n"
MALFORMED = {
    "missing_column.csv": ("example_id,rater\nt1,alice\n", "line 1, column label: the header has no 'label'"),
    "empty_label.csv": (HEADER + "t1,alice,,hello\n", "line 2, column label: the label is empty"),
    "unknown_label.csv": (
        HEADER + "t1,alice,billing,hi\nt1,bob,refund,\n",
        "line 3, column label: unknown label 'refund'",
    ),
    "unknown_example.csv": ("example_id,rater,label\nt1,alice,billing\n", "line 2, column example_id"),
    "twice.csv": (HEADER + "t1,alice,billing,x\nt1,alice,bug,\n", "line 3, column rater"),
    "control_char.csv": (HEADER + "t1,al\x07ice,billing,x\n", "line 2, column rater: the rater name"),
    "empty_rater.csv": (HEADER + "t1, ,billing,x\n", "line 2, column rater: the rater is empty"),
    "long_rater.csv": (HEADER + "t1," + "r" * 151 + ",billing,x\n", "line 2, column rater"),
    "columns.csv": (HEADER + "t1,alice,billing,x,extra\n", "line 2: expected 4 fields"),
    "broken.jsonl": (
        '{"example_id": "t1", "rater": "a", "label": "bug", "text": "x"}\n{"example_id": \n',
        "line 2: invalid JSON",
    ),
    "not_object.jsonl": ('["t1", "alice", "bug"]\n', "line 1: expected a JSON object, found array"),
    "nul.jsonl": (
        '{"example_id": "t1", "rater": "a\\u0000b", "label": "bug", "text": "x"}\n',
        "line 1, column rater",
    ),
    "deep.jsonl": ('{"example_id": "t1", "rater": "a", "label": "bug", "text": "x"}\n' + DEEP + "\n",
                   "line 2: the JSON is nested too deeply"),
    "latin1.csv": (HEADER.encode() + "t1,alice,billing,caf\xe9\n".encode("latin-1"), "line 2"),
    "two_choices.json": (
        json.dumps([{"id": 1, "data": {"text": "x"}, "annotations": [
            {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["bug", "other"]}}]}]}]),
        # Several choices are a label set: refused once the project is known to be single-label.
        "line 1, column result: task 1: 2 choices selected; this single-label project takes exactly one",
    ),
    "no_rater.json": (
        json.dumps([{"id": 1, "data": {"text": "x"}, "annotations": []},
                    {"id": 2, "data": {"text": "y"}, "annotations": [
                        {"result": [{"type": "choices", "value": {"choices": ["bug"]}}]}]}]),
        "column annotations[0].completed_by: task 2 (id 2)",
    ),
    "deep.json": ("[\n" + DEEP + "\n]", "line 2: the JSON is nested too deeply"),
    "not_a_list.json": ('{"id": 1}', "line 1: a .json file must be an array"),
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
    assert "unexpected error" not in errors
    after = (Annotation.objects.count(), Example.objects.count(), User.objects.count(), Label.objects.count())
    assert after == before


def test_one_bad_row_among_good_ones_writes_nothing(tmp_path, project):
    content = VALID_CSV + "t3,dave,nonsense,Some text,chat\n"
    _, errors = run_failing(write(tmp_path, "a.csv", content), "support")
    assert "line 7, column label: unknown label 'nonsense'" in errors
    assert not Annotation.objects.exists()
    assert not Example.objects.exists()
    assert not User.objects.filter(username="alice").exists()
    assert not ConsensusLabel.objects.exists()


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


def test_a_failed_import_with_create_leaves_no_project(tmp_path, db):
    run_failing(write(tmp_path, "a.csv", "example_id,rater,label\nt1,alice,\n"), "fresh", "--create")
    assert not Project.objects.exists()
    assert not ImportBatch.objects.exists()


def test_csv_with_a_byte_order_mark(tmp_path, project):
    out, _ = run(write(tmp_path, "a.csv", "\ufeff" + VALID_CSV), "support")
    assert "Imported 5 annotations" in out


def test_review_page_shows_a_text_less_example_by_id_and_metadata_and_raters_by_their_names(
    tmp_path, project, sme_client
):
    from django.urls import reverse

    content = (
        "example_id,rater,label,channel\n"
        "q7,Mary O'Neil,bug,email\nq7,j. doe,billing,email\nq7,李,feature,email\n"
    )
    run(write(tmp_path, "a.csv", content), "support", "--create")
    disagreement = Disagreement.objects.get(example__external_id="q7")
    page = sme_client.get(reverse("consistency:review_item", args=["support", disagreement.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Imported without a text: the example is known by its id and metadata." in html
    assert "<dt>channel</dt><dd>email</dd>" in html
    assert "mary-oneil-" in html
    assert "(Mary O&#x27;Neil)" in html
    queue = sme_client.get(reverse("consistency:review_queue", args=["support"])).content.decode()
    assert 'q7</a> <span class="muted">(no text)</span>' in queue
