"""Parsing the labeling forms; the services do every check that needs the database."""

from django import forms

from projects.models import Project


class AnnotationSubmitForm(forms.Form):
    label = forms.IntegerField(error_messages={"required": "Choose a label."})
    client_token = forms.UUIDField(required=False)
    ambiguous = forms.BooleanField(required=False)
    ambiguous_note = forms.CharField(required=False, max_length=1000)
    note = forms.CharField(required=False, max_length=2000)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)


class AssignmentSkipForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


class AnnotationEditForm(forms.Form):
    label = forms.TypedChoiceField(coerce=int, choices=())
    ambiguous = forms.BooleanField(required=False)
    ambiguous_note = forms.CharField(required=False, max_length=1000, label="Why is it ambiguous?")
    note = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [(label.pk, label.name) for label in project.labels.all()]


def first_error(form: forms.Form) -> str:
    for field, errors in form.errors.items():
        name = form.fields[field].label or field.replace("_", " ") if field in form.fields else ""
        return f"{name.capitalize()}: {errors[0]}" if name else errors[0]
    return "Please check the form."
