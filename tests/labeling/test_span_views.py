"""The labeling page of a span project: the text as tokens with their code point offsets, the
no-JavaScript form (one span per line, errors by line, nothing written), the explicit "No
entities", background submits, undo, My work and the edit page."""

import uuid

import pytest
from django.urls import reverse

from labeling.models import Annotation, Assignment
from labeling.spans import token_offsets
from projects.models import TaskType
from tests.factories import ExampleFactory, LabelFactory

pytestmark = pytest.mark.django_db

TEXT = "🙂 Ada Lovelace met\nCharles Babbage in London."
BACKGROUND = {"HTTP_X_CONCORD_BACKGROUND": "1"}


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


@pytest.fixture
def span_project(project):
    project.labels.all().delete()
    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    for position, (name, key) in enumerate([("PER", "p"), ("ORG", "o"), ("LOC", "l")]):
        LabelFactory(project=project, name=name, shortcut_key=key, position=position)
    ExampleFactory(project=project, external_id="s-1", text=TEXT)
    ExampleFactory(project=project, external_id="s-2", text="Nobody here.")
    return project


def shown(labeler, project):
    return (
        Assignment.objects.filter(rater=labeler, project=project, status="leased")
        .order_by("expires_at", "id")
        .first()
        .example
    )


def first_example(labeler_client, labeler, project):
    labeler_client.get(url("label", project))
    example = shown(labeler, project)
    assert example.text == TEXT  # the examples are handed out in id order
    return example


def test_the_page_renders_each_token_with_its_code_point_offsets(labeler_client, span_project):
    html = labeler_client.get(url("label", span_project)).content.decode()
    for start, end in token_offsets(TEXT):
        offsets = f'data-start="{start}" data-end="{end}" title="{start} {end}"'
        assert f'<span class="tok" {offsets}>{TEXT[start:end]}</span>' in html
    # Whitespace between tokens, the line break included, is kept as written.
    assert 'title="15 18">met</span><span class="gap">\n</span><span class="tok"' in html
    assert 'id="span-form" data-may-nest="0"' in html
    assert 'name="spans"' in html
    assert 'name="no_entities"' in html
    assert 'data-shortcut="p"' in html
    assert "style=" not in html  # the CSP forbids inline styles
    assert "{#" not in html  # no template comment shows


def test_the_plain_form_takes_one_span_per_line(labeler_client, labeler, span_project):
    example = first_example(labeler_client, labeler, span_project)
    response = labeler_client.post(
        url("submit", span_project, example.pk),
        {"spans": "2 14 PER\r\n\r\n38 44   LOC\r\n", "client_token": str(uuid.uuid4()), "submit_spans": "1"},
    )
    assert response.status_code == 302
    stored = Annotation.objects.get(rater=labeler)
    per, loc = (span_project.labels.get(name=name).pk for name in ("PER", "LOC"))
    assert stored.spans == [[2, 14, per], [38, 44, loc]]
    page = labeler_client.get(response.url).content.decode()
    assert "Saved." in page
    assert (
        "PER &quot;Ada Lovelace&quot;, LOC &quot;London&quot;" in page
    )  # the undo button says what it takes back


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        ("2 14 PER\n38 99 LOC", "Line 2: end 99 is outside the text"),
        ("2 14 PER\n\n6 26 ORG", "Line 3: line 1 and line 3 cross (each starts inside the other)"),
        ("2 14 PER\n2 5 PER", "Line 2: line 1 and line 2 overlap; this project does not let spans nest"),
        ("2 14 PERSON", "Line 1: label &#x27;PERSON&#x27; is not one of this project&#x27;s labels"),
        ("2 14", "Line 1: write start end label"),
        ("two 14 PER", "Line 1: start must be a whole number"),
        ("5 3 PER", "Line 1: line 1 ends (3) at or before it starts (5)"),
        ("", "Mark the entities, or choose"),
    ],
)
def test_bad_lines_are_refused_by_line_and_nothing_is_written(
    labeler_client, labeler, span_project, lines, words
):
    example = first_example(labeler_client, labeler, span_project)
    response = labeler_client.post(
        url("submit", span_project, example.pk),
        {"spans": lines, "client_token": str(uuid.uuid4()), "submit_spans": "1"},
        follow=True,
    )
    assert words in response.content.decode()
    assert not Annotation.objects.exists()
    assert shown(labeler, span_project).pk == example.pk


def test_no_entities_is_an_explicit_button(labeler_client, labeler, span_project):
    example = first_example(labeler_client, labeler, span_project)
    labeler_client.post(
        url("submit", span_project, example.pk),
        {"spans": "", "no_entities": "1", "client_token": str(uuid.uuid4())},
    )
    assert Annotation.objects.get(rater=labeler).spans == []
    page = labeler_client.get(url("label", span_project)).content.decode()
    assert 'Undo my last label (<span id="undo-label">no entities</span>)' in page


def test_a_background_submit_answers_json_with_the_next_items(labeler_client, labeler, span_project):
    example = first_example(labeler_client, labeler, span_project)
    per = span_project.labels.get(name="PER").pk
    body = {"spans": f"2 14 {per}", "client_token": str(uuid.uuid4())}
    answer = labeler_client.post(url("submit", span_project, example.pk), body, **BACKGROUND).json()
    assert answer["undo"] == 'PER "Ada Lovelace"'
    assert 'title="0 6">Nobody</span>' in answer["items"]
    assert 'class="tok"' in answer["items"]
    refused = labeler_client.post(
        url("submit", span_project, shown(labeler, span_project).pk),
        {"spans": "0 99 PER", "client_token": str(uuid.uuid4())},
        **BACKGROUND,
    )
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("Line 1: end 99")
    assert Annotation.objects.count() == 1


def test_undo_my_work_and_the_edit_page(labeler_client, labeler, span_project):
    example = first_example(labeler_client, labeler, span_project)
    labeler_client.post(
        url("submit", span_project, example.pk), {"spans": "2 14 PER", "client_token": str(uuid.uuid4())}
    )
    annotation = Annotation.objects.get(rater=labeler)
    assert "PER &quot;Ada Lovelace&quot;" in labeler_client.get(url("my_work", span_project)).content.decode()
    edit = url("annotation_edit", span_project, annotation.pk)
    form = labeler_client.get(edit).content.decode()
    assert "2 14 PER</textarea>" in form
    assert '<span class="tok" title="2 5">Ada</span>' in form  # offsets on hover, for the box
    refused = labeler_client.post(edit, {"spans": "2 14 PER\n19 34 ORG\n0 1 LOC\n30 99 LOC"})
    assert refused.status_code == 200
    assert "Line 4: end 99 is outside the text" in refused.content.decode()
    assert Annotation.objects.get().spans == [[2, 14, span_project.labels.get(name="PER").pk]]
    saved = labeler_client.post(edit, {"spans": "2 14 PER\n19 34 ORG"})
    assert saved.status_code == 302
    assert len(Annotation.objects.get().spans) == 2
    assert labeler_client.post(edit, {"spans": ""}).status_code == 200  # empty is not "no entities"
    labeler_client.post(edit, {"spans": "", "no_entities": "on"})
    assert Annotation.objects.get().spans == []
    labeler_client.post(url("undo", span_project))
    assert not Annotation.objects.exists()
    assert shown(labeler, span_project).pk == example.pk


def test_the_progress_page_of_a_span_project(manager_client, labeler_client, labeler, span_project):
    example = first_example(labeler_client, labeler, span_project)
    labeler_client.post(
        url("submit", span_project, example.pk), {"spans": "2 14 PER", "client_token": str(uuid.uuid4())}
    )
    response = manager_client.get(url("progress", span_project))
    assert response.status_code == 200
    assert "labeler" in response.content.decode()


def test_a_label_name_with_spaces_fits_on_a_line(labeler_client, labeler, span_project):
    art = LabelFactory(project=span_project, name="work of  art", shortcut_key="w", position=9)
    example = first_example(labeler_client, labeler, span_project)
    labeler_client.post(
        url("submit", span_project, example.pk),
        {"spans": "19 34   work of  art  ", "client_token": str(uuid.uuid4())},
    )
    assert Annotation.objects.get(rater=labeler).spans == [[19, 34, art.pk]]
