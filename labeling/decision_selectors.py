"""Reads about where a project's examples stand with the decision rules: how many have a consensus
(by source), wait in the review queue, or have no decision yet."""

from __future__ import annotations

from django.db.models import Count, Q

from labeling.models import ConsensusLabel, Disagreement
from projects.models import Project


def decision_counts(*, project: Project) -> dict[str, int]:
    """Counts of the project's examples: all, annotated, per consensus source, queued (an open
    disagreement) and undecided (annotated, with neither a consensus nor an open disagreement)."""
    examples = project.examples.aggregate(
        examples=Count("pk"), annotated=Count("pk", filter=Q(annotation_count__gt=0))
    )
    sources = dict(
        ConsensusLabel.objects.filter(example__project=project)
        .order_by()
        .values_list("source")
        .annotate(n=Count("pk"))
        .values_list("source", "n")
    )
    queued = Disagreement.objects.filter(project=project, status=Disagreement.Status.OPEN).count()
    undecided = (
        project.examples.filter(annotation_count__gt=0, consensus__isnull=True)
        .exclude(disagreements__status=Disagreement.Status.OPEN)
        .count()
    )
    return {
        **examples,
        **{source: sources.get(source, 0) for source in ConsensusLabel.Source.values},
        "queued": queued,
        "undecided": undecided,
    }
