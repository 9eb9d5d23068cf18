"""Next and submit build their JSON and read their bodies without DRF's serializers (the hot path):
the answers must be exactly what the serializers, which define the contract and the schema,
would give, and a body is accepted without the serializer only when the serializer accepts it
and reads it the same way (anything else gets the serializer's own errors)."""

import uuid
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from labeling.api.serializers import (
    AnnotationSerializer,
    AnnotationSubmitSerializer,
    AssignmentSerializer,
    annotation_payload,
    annotation_submit_data,
    assignment_payload,
)
from labeling.models import Annotation, Assignment
from projects.models import Example
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory
from tests.media_files import image_bytes, stored_media_example

from .conftest import token_client

BASE = "/api/v1/projects/support"


def test_annotation_answers_match_the_serializer(project, labeler):
    names = dict(project.labels.values_list("pk", "name"))
    billing, bug = project.labels.get(name="billing"), project.labels.get(name="bug")
    version = GuidelineVersionFactory(project=project, number=3)
    example = ExampleFactory(project=project, text="Ada Lovelace wrote to Acme")
    later = timezone.now() + timedelta(hours=1)
    annotations = [
        AnnotationFactory(example=example, rater=labeler, label=bug, guideline_version=version, note="n"),
        AnnotationFactory(
            example=ExampleFactory(project=project),
            rater=labeler,
            label=None,
            labels=[billing.pk, bug.pk, 999_999],  # a label deleted since is left out, as listed
            guideline_version=None,
            ambiguous=True,
            ambiguous_note="ünïcode \u2028",
            time_spent_ms=None,
            source=Annotation.Source.IMPORT,
            superseded_at=later,
        ),
        AnnotationFactory(
            example=ExampleFactory(project=project, text="Ada Lovelace"),
            rater=labeler,
            label=None,
            spans=[[0, 3, billing.pk], [4, 12, 999_999]],
            time_spent_ms=1200,
        ),
    ]
    for annotation in annotations:
        loaded = Annotation.objects.select_related("example", "rater", "label", "guideline_version").get(
            pk=annotation.pk
        )
        expected = AnnotationSerializer(loaded, context={"label_names": names}).data
        assert annotation_payload(loaded, label_names=names) == expected
        assert list(annotation_payload(loaded, label_names=names)) == list(expected)  # same key order


def test_lease_answers_match_the_serializer(project, labeler):
    project.visible_metadata = ["channel", "missing"]
    project.save()
    texts = ExampleFactory(project=project, metadata={"channel": "email", "hidden": 1})
    media = stored_media_example(project, image_bytes("PNG", size=(8, 8)), "image/png", name="a b.png")
    request = RequestFactory().post(f"{BASE}/assignments/next/")
    request.project = project
    for example, version in ((texts, 7), (media, None)):
        lease = Assignment.objects.create(
            project=project,
            example=example,
            rater=labeler,
            slot=1,
            expires_at=timezone.now() + timedelta(minutes=5),
        )
        lease.example = Example.objects.get(pk=example.pk)
        context = {
            "metadata": {"channel": "email"} if version else {},
            "guideline_version": version,
            "request": request,
            "task_type": project.task_type,
            "allow_empty_label_set": project.allow_empty_label_set,
            "spans_may_nest": project.spans_may_nest,
        }
        expected = AssignmentSerializer(lease, context=context).data
        assert assignment_payload(lease, context=context) == expected
        assert list(assignment_payload(lease, context=context)) == list(expected)
        lease.delete()


def test_what_the_api_answers_is_what_the_serializers_say(project, labeler):
    GuidelineVersionFactory(project=project, number=2)
    ExampleFactory(project=project, metadata={"channel": "chat"})
    api = token_client(labeler)
    lease = api.post(f"{BASE}/assignments/next/")
    assert lease.status_code == 200
    assignment = Assignment.objects.select_related("example").get(pk=lease.json()["id"])
    assert lease.json()["expires_at"] == AssignmentSerializer().fields["expires_at"].to_representation(
        assignment.expires_at
    )
    body = {"assignment": assignment.pk, "label": " bug ", "client_token": str(uuid.uuid4()), "note": " x "}
    saved = api.post(f"{BASE}/annotations/", body, content_type="application/json")
    assert saved.status_code == 201
    annotation = Annotation.objects.get(pk=saved.json()["id"])
    names = dict(project.labels.values_list("pk", "name"))
    assert saved.json() == AnnotationSerializer(annotation, context={"label_names": names}).data
    assert (annotation.label.name, annotation.note) == ("bug", "x")  # trimmed, as the serializer does
    replay = api.post(f"{BASE}/annotations/", body, content_type="application/json")
    assert (replay.status_code, replay.json()) == (200, saved.json())


TOKEN = str(uuid.uuid4())
ACCEPTED = [
    {"assignment": 1, "label": "bug"},
    {"assignment": 2_147_483_647, "label": "  bug\t", "client_token": TOKEN, "time_spent_ms": 0},
    {"assignment": 5, "label": "7", "ambiguous": True, "ambiguous_note": " why ", "note": ""},
    {"assignment": 5, "label": "x" * 100, "note": "n" * 2000, "ambiguous_note": "a" * 1000},
    {"assignment": 5, "label": "bug", "time_spent_ms": 24 * 3600 * 1000, "client_token": TOKEN.upper()},
    {"assignment": 5, "labels": []},
    {"assignment": 5, "labels": ["bug", " 7 ", "bug"]},
    {"assignment": 5, "spans": []},
    {
        "assignment": 5,
        "spans": [{"start": 0, "end": 3, "label": "PER"}, {"label": "1", "end": 9, "start": 4}],
    },
    {"assignment": 5, "label": "bug", "note": "   "},
    {
        "assignment": 5,
        "spans": [
            {"start": 0, "end": 3, "label": "PER", "text": " Ada"},
            {"start": 4, "end": 5, "label": "O"},
        ],
    },
]
# Refused by the serializer, every one (and so never accepted without it).
REFUSED = [
    {},
    [],
    {"assignment": 5},
    {"assignment": 0, "label": "bug"},
    {"assignment": 2_147_483_648, "label": "bug"},
    {"assignment": True, "label": "bug"},
    {"assignment": "5", "label": "bug"},
    {"assignment": 5.0, "label": "bug"},
    {"assignment": 5, "label": ""},
    {"assignment": 5, "label": "   "},
    {"assignment": 5, "label": "x" * 101},
    {"assignment": 5, "label": 7},
    {"assignment": 5, "label": None},
    {"assignment": 5, "label": "bug", "labels": ["bug"]},
    {"assignment": 5, "label": "bug", "spans": []},
    {"assignment": 5, "labels": "bug"},
    {"assignment": 5, "labels": ["bug", 7]},
    {"assignment": 5, "labels": [""]},
    {"assignment": 5, "labels": ["b"] * 101},
    {"assignment": 5, "labels": None},
    {"assignment": 5, "spans": [{"start": 0, "end": 3}]},
    {"assignment": 5, "spans": [{"start": 0, "end": 3, "label": "PER", "text": ""}]},
    {"assignment": 5, "spans": [{"start": 0, "end": 3, "label": "PER", "text": None}]},
    {"assignment": 5, "spans": [{"start": 0, "end": 3, "label": "PER", "note": "Ada"}]},
    {"assignment": 5, "spans": [{"start": -1, "end": 3, "label": "PER"}]},
    {"assignment": 5, "spans": [{"start": 0, "end": 0, "label": "PER"}]},
    {"assignment": 5, "spans": [{"start": "0", "end": 3, "label": "PER"}]},
    {"assignment": 5, "spans": [["0", 3, "PER"]]},
    {"assignment": 5, "spans": {"start": 0}},
    {"assignment": 5, "label": "bug", "client_token": "not-a-uuid"},
    {"assignment": 5, "label": "bug", "client_token": 5},
    {"assignment": 5, "label": "bug", "client_token": None},
    {"assignment": 5, "label": "bug", "ambiguous": "true"},
    {"assignment": 5, "label": "bug", "ambiguous": None},
    {"assignment": 5, "label": "bug", "ambiguous": 1},
    {"assignment": 5, "label": "bug", "note": "n" * 2001},
    {"assignment": 5, "label": "bug", "note": None},
    {"assignment": 5, "label": "bug", "note": 5},
    {"assignment": 5, "label": "bug", "ambiguous_note": "a" * 1001},
    {"assignment": 5, "label": "bug", "time_spent_ms": -1},
    {"assignment": 5, "label": "bug", "time_spent_ms": 24 * 3600 * 1000 + 1},
    {"assignment": 5, "label": "bug", "time_spent_ms": 2.5},
    {"assignment": 5, "label": "bug", "time_spent_ms": None},
    {"assignment": 5, "label": "bug", "colour": "red"},
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_a_plain_body_is_read_as_the_serializer_reads_it(body):
    form = AnnotationSubmitSerializer(data=body)
    assert form.is_valid(), form.errors
    assert annotation_submit_data(body) == form.validated_data


@pytest.mark.parametrize("body", REFUSED)
def test_anything_else_is_left_to_the_serializer(body):
    assert not AnnotationSubmitSerializer(data=body).is_valid()
    assert annotation_submit_data(body) is None  # the client gets the serializer's answer and errors
