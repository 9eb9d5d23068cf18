"""Parsing the labeling forms; the services do every check that needs the database."""

import re

from django import forms

from projects.models import Project, TaskType


class AnnotationSubmitForm(forms.Form):
    label = forms.IntegerField(error_messages={"required": "Choose a label."})
    client_token = forms.UUIDField(required=False)
    ambiguous = forms.BooleanField(required=False)
    ambiguous_note = forms.CharField(required=False, max_length=1000)
    note = forms.CharField(required=False, max_length=2000)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)


class LabelIdsField(forms.Field):
    """Several label ids under one name (checkboxes, or the script's repeated `labels`)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        try:
            return [int(item) for item in value]
        except (TypeError, ValueError):
            raise forms.ValidationError("Choose labels of this project.") from None


CHOOSE_A_SET = 'Choose the labels that apply, or "none of these".'


class AnnotationSetSubmitForm(AnnotationSubmitForm):
    """A multi-label answer: the checked labels, or the explicit "none of these" button (an
    empty set is never inferred from nothing checked)."""

    label = None
    labels = LabelIdsField(required=False)
    none_of_these = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("none_of_these"):
            data["labels"] = []
        elif not data.get("labels") and "labels" not in self.errors:
            self.add_error("labels", CHOOSE_A_SET)
        return data


SPAN_LINE_HELP = (
    "One span per line: start end label, in characters from the start of the text (the first is 0, "
    "the end is not included), e.g. 0 12 PER. Labels by name or id."
)
SPAN_LINES_LIMIT = 100_000  # characters in the spans box
MARK_OR_NONE = 'Mark the entities, or choose "No entities".'


class SpanLinesField(forms.CharField):
    """Spans written one per line, ``start end label`` (the label may contain spaces), as the
    no-JavaScript form and the page's script send them. Cleans to a list of (line number,
    {"start", "end", "label"}); the offsets and labels are checked by the service, against the
    text, and its errors are put back on their lines (spans_error_by_line)."""

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", SPAN_LINES_LIMIT)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def to_python(self, value) -> list[tuple[int, dict]]:
        value = super().to_python(value)
        spans = []
        for number, line in enumerate(value.splitlines(), start=1):
            parts = line.split(maxsplit=2)
            if not parts:
                continue
            if len(parts) < 3:
                raise forms.ValidationError(f"Line {number}: write start end label (e.g. 0 12 PER).")
            spans.append((number, {"start": parts[0], "end": parts[1], "label": parts[2].strip()}))
        return spans


def spans_error_by_line(error, lines: list[int]) -> str:
    """A service's span error (an ApplicationError under ``spans[2].end``: "spans[2].end 40 is
    outside the text") said by line of the spans box: "Line 3: end 40 is outside the text"."""
    field = next((name for name in error.extra if name.startswith("spans[")), "")
    match = re.match(r"spans\[(\d+)\]", field)
    if match is None or int(match.group(1)) >= len(lines):
        return error.message

    def by_line(found: re.Match) -> str:
        index = int(found.group(1))
        if found.group(2):
            return found.group(2)
        return f"line {lines[index]}" if index < len(lines) else found.group(0)

    said = re.sub(r"spans\[(\d+)\](?:\.(\w+))?", by_line, error.message)
    return f"Line {lines[int(match.group(1))]}: {said}"


def spans_lines(spans, names: dict[int, str]) -> str:
    """Stored spans written as the spans box takes them (labels by name)."""
    return "\n".join(f"{start} {end} {names.get(label, label)}" for start, end, label in spans or [])


def _spans_or_no_entities(form: forms.Form, data: dict) -> dict:
    """The explicit "No entities" answers no spans; an empty box alone is refused."""
    if data.get("no_entities"):
        data["spans"] = []
    elif not data.get("spans") and "spans" not in form.errors:
        form.add_error("spans", MARK_OR_NONE)
    return data


class AnnotationSpansSubmitForm(AnnotationSubmitForm):
    """A span answer: the spans box, or the explicit "No entities" button (no spans is never
    inferred from an empty box)."""

    label = None
    spans = SpanLinesField(required=False)
    no_entities = forms.BooleanField(required=False)

    def clean(self):
        return _spans_or_no_entities(self, super().clean())

    def span_list(self) -> list[dict]:
        return [span for _, span in self.cleaned_data["spans"]]

    def span_lines(self) -> list[int]:
        return [number for number, _ in self.cleaned_data["spans"]]


class AssignmentSkipForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


class AnnotationEditForm(forms.Form):
    label = forms.TypedChoiceField(coerce=int, choices=())
    labels = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), required=False, widget=forms.CheckboxSelectMultiple, label="Labels"
    )
    spans = SpanLinesField(required=False, label="Spans", help_text=SPAN_LINE_HELP)
    no_entities = forms.BooleanField(required=False, label="No entities")
    ambiguous = forms.BooleanField(required=False)
    ambiguous_note = forms.CharField(required=False, max_length=1000, label="Why is it ambiguous?")
    note = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(label.pk, label.name) for label in project.labels.all()]
        # One label, a set of labels (checkboxes), or spans (the spans box), by the task type.
        if project.task_type == TaskType.SPANS:
            del self.fields["label"], self.fields["labels"]
            return
        del self.fields["spans"], self.fields["no_entities"]
        if project.task_type == TaskType.MULTI:
            del self.fields["label"]
            self.fields["labels"].choices = choices
            self.fields["labels"].help_text = (
                'Leave every box empty for "none of these".'
                if project.allow_empty_label_set
                else "Check at least one."
            )
        else:
            del self.fields["labels"]
            self.fields["label"].choices = choices

    def clean(self):
        data = super().clean()
        return _spans_or_no_entities(self, data) if "spans" in self.fields else data


def first_error(form: forms.Form) -> str:
    for field, errors in form.errors.items():
        name = form.fields[field].label or field.replace("_", " ") if field in form.fields else ""
        return f"{name.capitalize()}: {errors[0]}" if name else errors[0]
    return "Please check the form."
