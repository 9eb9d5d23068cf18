"""Showing an answer (an annotation, a consensus, a resolution) in words, whatever the task type:
`{{ annotation|answer:project }}` is "bug" on a single-label project, "billing + bug" or
"none of these" on a multi-label one, `PER "Ada Lovelace"` or "no entities" on a span one (the
spans read the text of `obj.example`)."""

from django import template

from labeling.selectors import NONE_OF_THESE, spans_text

register = template.Library()


def _label_names(project) -> list[tuple[int, str]]:
    """The project's labels in button order, read once per project instance (a page of rows)."""
    names = getattr(project, "_answer_label_names", None)
    if names is None:
        names = list(project.labels.order_by("position", "id").values_list("pk", "name"))
        project._answer_label_names = names
    return names


@register.filter(name="answer")
def answer(obj, project) -> str:
    if obj is None:
        return ""
    spans = getattr(obj, "spans", None)
    if spans is not None:
        return spans_text(spans=spans, text=obj.example.text, names=dict(_label_names(project)))
    labels = getattr(obj, "labels", None)
    if labels is not None and not hasattr(labels, "all"):  # a JSON list, not a related manager
        wanted = {int(pk) for pk in labels}
        return " + ".join(name for pk, name in _label_names(project) if pk in wanted) or NONE_OF_THESE
    label = getattr(obj, "label", None)
    return label.name if label is not None else ""


@register.filter(name="label_ids")
def label_ids(obj) -> list[int]:
    """The label ids of a multi-label answer (for checking boxes), [] for anything else."""
    labels = getattr(obj, "labels", None)
    return [int(pk) for pk in labels] if isinstance(labels, list) else []
