"""A span answer in words for the review pages: `{% spans_text resolution.spans example.text project %}`
is "“Ada Lovelace” PERSON, “London” LOC" ("no entities" for [])."""

from django import template

from consistency.review.span_layout import spans_of

register = template.Library()

NO_ENTITIES = "no entities"
QUOTE_LIMIT = 60


def _label_names(project) -> dict[int, str]:
    """The project's label names, read once per project instance (a page of rows)."""
    names = getattr(project, "_span_label_names", None)
    if names is None:
        names = dict(project.labels.values_list("pk", "name"))
        project._span_label_names = names
    return names


@register.simple_tag
def spans_text(spans, text, project) -> str:
    if spans is None:
        return ""
    names = _label_names(project)
    shown = []
    for start, end, label in spans_of(spans):
        quoted = " ".join((text or "")[start:end].split())
        if len(quoted) > QUOTE_LIMIT:
            quoted = quoted[: QUOTE_LIMIT - 1] + "\u2026"
        shown.append(f"\u201c{quoted}\u201d {names.get(label, '?')}")
    return ", ".join(shown) or NO_ENTITIES
