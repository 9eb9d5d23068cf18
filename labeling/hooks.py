"""Events of the labeling layer that layers above may react to (core.hooks explains the mechanism)."""

from core.hooks import Hook

# New current annotations exist in a project: fired by a labeler's submit (source "labeling", inside
# its transaction) and after an annotation import is committed (source "import").
annotations_changed = Hook("annotations_changed", arguments=("project_id", "source"))
