"""Events of the projects layer that layers above may react to (core.hooks explains the mechanism)."""

from core.hooks import Hook

# A manager changed a setting the decision rules read (REVIEW_RULE_FIELDS): fired inside
# project_update's transaction with the project, who changed it, and {field: (old, new)}.
review_rules_changed = Hook("review_rules_changed", arguments=("project", "user", "changed"))
