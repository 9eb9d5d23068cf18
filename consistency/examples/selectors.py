"""Reads for the example page: which example a member may open, and what they may see of it."""

from django.db.models import Q

from core.errors import NotFound
from labeling.models import Annotation, Assignment, LabelingEvent
from projects.models import Example, Membership, Role


def example_get_for_member(*, membership: Membership, example_id: int) -> Example:
    """The example, through the member's project. Managers and SMEs open any; a labeler only one
    they were handed or labeled (else NotFound, as for an example that does not exist)."""
    examples = membership.project.examples.select_related("import_batch__created_by")
    if membership.role == Role.LABELER:
        mine = (
            Q(pk__in=Assignment.objects.filter(rater=membership.user).values("example_id"))
            | Q(pk__in=Annotation.objects.filter(rater=membership.user).values("example_id"))
            | Q(pk__in=LabelingEvent.objects.filter(rater=membership.user).values("example_id"))
        )
        examples = examples.filter(mine)
    try:
        return examples.get(pk=example_id)
    except (Example.DoesNotExist, ValueError, TypeError):
        raise NotFound("Example not found.") from None
