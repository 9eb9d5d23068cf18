"""The demo loads a realistic project once, through the real services, and is safe to run again."""

from io import StringIO

import pytest
from django.core.management import call_command

from consistency.agreement.models import AgreementReport
from labeling.models import Annotation, ConsensusLabel, Disagreement
from projects.models import GuidelineVersion, Project, Role

pytestmark = pytest.mark.django_db


def test_demo_data_loads_a_project_with_real_disagreements_and_is_idempotent():
    out = StringIO()
    call_command("demo_data", stdout=out)
    project = Project.objects.get(slug="support-tickets")
    roles = sorted(project.memberships.values_list("role", flat=True))
    assert roles.count(Role.LABELER) == 4
    assert Role.MANAGER in roles
    assert Role.SME in roles
    assert project.examples.count() == 300
    assert project.labels.count() == 4
    assert all(label.shortcut_key and label.description for label in project.labels.all())
    assert GuidelineVersion.objects.filter(project=project, number=1).exists()
    annotations = Annotation.objects.filter(example__project=project)
    assert annotations.filter(ambiguous=True).exists()
    assert project.examples.filter(annotation_count=0).exists()  # still waiting for labels
    assert project.examples.filter(annotation_count__gt=project.overlap).count() == 0
    assert Disagreement.objects.filter(project=project, status="open").count() > 0
    assert AgreementReport.objects.filter(project=project, status="succeeded").exists()
    assert "concord-demo" in out.getvalue()

    # The image project: drawn with Pillow, imported as a ZIP through the media import.
    shapes = Project.objects.get(slug="shapes")
    assert shapes.examples.count() == 60
    assert set(shapes.examples.values_list("media_type", flat=True)) == {"image/png"}
    assert Annotation.objects.filter(example__project=shapes, label__name="can't tell").exists()
    assert Disagreement.objects.filter(project=shapes).count() > 0

    # The multi-label project: sets, some unanimous, some decided by majority, some queued.
    topics = Project.objects.get(slug="support-topics")
    assert topics.task_type == "multi"
    sets = Annotation.objects.filter(example__project=topics)
    assert sets.count() > 60
    assert not sets.filter(labels__isnull=True).exists()
    assert any(len(labels) > 1 for labels in sets.values_list("labels", flat=True))
    assert Disagreement.objects.filter(project=topics, status="open").count() > 0
    sources = set(ConsensusLabel.objects.filter(example__project=topics).values_list("source", flat=True))
    assert {"unanimous", "majority"} <= sources
    report = AgreementReport.objects.filter(project=topics, status="succeeded").get()
    assert report.result["distance"] == "masi"

    # The span project: entities marked as spans, boundary and label slips, majorities and cases.
    mentions = Project.objects.get(slug="product-mentions")
    assert mentions.task_type == "spans"
    marked = Annotation.objects.filter(example__project=mentions)
    assert marked.count() > 50
    assert not marked.filter(spans__isnull=True).exists()
    texts = dict(mentions.examples.values_list("pk", "text"))
    names = dict(mentions.labels.values_list("pk", "name"))
    marked_words = {
        (texts[example_id][start:end], names[label])
        for example_id, spans in marked.values_list("example_id", "spans")
        for start, end, label in spans
    }
    assert ("E-1042", "error code") in marked_words
    assert ("the iOS app", "product") in marked_words  # a boundary slip the guideline rules out
    assert Disagreement.objects.filter(project=mentions, status="open").count() > 0
    decided = ConsensusLabel.objects.filter(example__project=mentions)
    assert decided.exclude(spans=[]).exists()
    report = AgreementReport.objects.filter(project=mentions, status="succeeded").get()
    assert report.result["span_f1"]["exact"]["value"] is not None

    before = annotations.count()
    again = StringIO()
    call_command("demo_data", stdout=again)
    assert "already exists" in again.getvalue()
    assert annotations.count() == before
    assert Project.objects.filter(slug="support-tickets").count() == 1
