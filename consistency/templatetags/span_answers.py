"""A span answer in words for the review pages: `{% spans_text resolution.spans example.text project %}`
is `PERSON "Ada Lovelace", LOC "London"` ("no entities" for []), as labeling words them."""

from django import template

from consistency.review.span_layout import spans_of

register = template.Library()

NO_ENTITIES = "no entities"
QUOTE_LIMIT = 60
SPANS_SHOWN = 10  # named before "and N more"


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
    spans = spans_of(spans)
    for start, end, label in spans[:SPANS_SHOWN]:
        quoted = " ".join((text or "")[start:end].split())
        if len(quoted) > QUOTE_LIMIT:
            quoted = quoted[: QUOTE_LIMIT - 1] + "\u2026"
        shown.append(f'{names.get(label, "?")} "{quoted}"')
    more = len(spans) - SPANS_SHOWN
    return (", ".join(shown) + (f" and {more} more" if more > 0 else "")) or NO_ENTITIES
