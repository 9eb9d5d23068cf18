"""The consistency app's tables, defined by job in its sub-packages (agreement, review, releases)
and gathered here, where Django looks for an app's models."""

from consistency.agreement.models import AgreementReport
from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.review.models import RelabeledExample, RelabelRequest, Resolution, WorkedExample

__all__ = [
    "AgreementReport",
    "DatasetRelease",
    "DatasetReleaseItem",
    "RelabelRequest",
    "RelabeledExample",
    "Resolution",
    "WorkedExample",
]
