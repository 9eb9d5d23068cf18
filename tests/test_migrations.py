"""The re-cut moved guidelines into projects and the decision tables into labeling without moving
a row: a database migrated up to the old layout, filled, then migrated on keeps every row, and the
models in their new homes read them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE_THE_MOVE = [
    ("projects", "0004_importbatch_options_summary_decisions"),
    ("labeling", "0003_annotation_superseded"),
    ("consistency", "0007_relabel_request"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_every_row_and_the_new_homes_read_them():
    old = _migrate(BEFORE_THE_MOVE)
    User = old.get_model("auth", "User")  # noqa: N806
    Project = old.get_model("projects", "Project")  # noqa: N806
    Example = old.get_model("projects", "Example")  # noqa: N806
    Label = old.get_model("projects", "Label")  # noqa: N806
    OldVersion = old.get_model("consistency", "GuidelineVersion")  # noqa: N806
    OldDraft = old.get_model("consistency", "GuidelineDraft")  # noqa: N806
    OldConsensus = old.get_model("consistency", "ConsensusLabel")  # noqa: N806
    OldDisagreement = old.get_model("consistency", "Disagreement")  # noqa: N806
    OldResolution = old.get_model("consistency", "Resolution")  # noqa: N806
    Annotation = old.get_model("labeling", "Annotation")  # noqa: N806

    sme = User.objects.create(username="sme-before-the-move")
    project = Project.objects.create(name="Before", slug="before-the-move")
    bug = Label.objects.create(project=project, name="bug", shortcut_key="1")
    billing = Label.objects.create(project=project, name="billing", shortcut_key="2")
    example = Example.objects.create(project=project, external_id="e1", text="It crashed after paying.")
    calm = Example.objects.create(project=project, external_id="e2", text="Thanks.")
    version = OldVersion.objects.create(project=project, number=1, body="Bugs are bugs.", changelog="First.")
    OldDraft.objects.create(project=project, body="Bugs are bugs.", based_on=version)
    Annotation.objects.create(example=example, rater=sme, label=bug, guideline_version=version)
    OldConsensus.objects.create(
        example=calm, label=billing, source="unanimous", agreement=1.0, n_raters=3, decided_at=timezone.now()
    )
    disagreement = OldDisagreement.objects.create(
        project=project, example=example, reason="split", label_a=bug, label_b=billing, majority_share=0.5
    )
    disagreement.guideline_versions.add(version)
    OldResolution.objects.create(
        project=project, disagreement=disagreement, example=example, label=bug, verdict="gold", sme=sme
    )

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from consistency.review.models import Resolution
    from labeling.models import Annotation as NewAnnotation
    from labeling.models import ConsensusLabel, Disagreement
    from projects.models import GuidelineDraft, GuidelineVersion

    moved = GuidelineVersion.objects.get(project__slug="before-the-move")
    assert (moved.number, moved.body) == (1, "Bugs are bugs.")
    assert GuidelineDraft.objects.get(project__slug="before-the-move").based_on == moved
    assert (
        NewAnnotation.objects.get(example__external_id="e1", rater__username=sme.username).guideline_version
        == moved
    )
    assert ConsensusLabel.objects.get(example__external_id="e2").label.name == "billing"
    queued = Disagreement.objects.get(example__external_id="e1", project__slug="before-the-move")
    assert (queued.reason, queued.label_a.name, queued.label_b.name) == ("split", "bug", "billing")
    assert list(queued.guideline_versions.all()) == [moved]
    assert Resolution.objects.get(disagreement=queued).label.name == "bug"
    assert moved.disagreements.get() == queued
