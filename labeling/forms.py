"""Parsing the labeling forms; the services do every check that needs the database."""

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


class AssignmentSkipForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


class AnnotationEditForm(forms.Form):
    label = forms.TypedChoiceField(coerce=int, choices=())
    labels = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), required=False, widget=forms.CheckboxSelectMultiple, label="Labels"
    )
    ambiguous = forms.BooleanField(required=False)
    ambiguous_note = forms.CharField(required=False, max_length=1000, label="Why is it ambiguous?")
    note = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(label.pk, label.name) for label in project.labels.all()]
        # One label, or a set of labels (checkboxes), by the project's task type.
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


def first_error(form: forms.Form) -> str:
    for field, errors in form.errors.items():
        name = form.fields[field].label or field.replace("_", " ") if field in form.fields else ""
        return f"{name.capitalize()}: {errors[0]}" if name else errors[0]
    return "Please check the form."
