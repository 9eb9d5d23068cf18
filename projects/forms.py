"""Forms for the project pages: they parse and validate input; services do the writing."""

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.template.defaultfilters import filesizeformat

from projects.models import ImportBatch, Project, Role, TaskType
from projects.services.imports import importer_get

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Use lowercase letters, digits and hyphens.")


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=80, validators=[slug_validator], help_text="Used in addresses: /projects/<slug>/"
    )
    description = forms.CharField(widget=forms.Textarea, required=False)
    overlap = forms.IntegerField(min_value=1, max_value=25, initial=3, help_text="Raters per example (k).")
    task_type = forms.ChoiceField(
        choices=TaskType.choices,
        initial=TaskType.SINGLE,
        required=False,
        help_text="What one annotation is. It cannot change once the project has annotations.",
    )
    allow_empty_label_set = forms.BooleanField(
        required=False,
        label='Allow "none of these"',
        help_text="Multi-label only: a rater may answer that none of the labels applies.",
    )
    spans_may_nest = forms.BooleanField(
        required=False,
        label="Spans may nest",
        help_text="Spans only: a span may lie inside another (an organisation inside a person's title). "
        "Spans never cross.",
    )

    def clean_task_type(self) -> str:
        return self.cleaned_data["task_type"] or TaskType.SINGLE


class ProjectSettingsForm(forms.ModelForm):
    visible_metadata = forms.CharField(
        required=False,
        help_text="Metadata fields shown to labelers, separated by commas (e.g. channel, language).",
    )

    class Meta:
        model = Project
        fields = [
            "name",
            "description",
            "overlap",
            "lease_minutes",
            "lease_queue_size",
            "task_type",
            "allow_empty_label_set",
            "spans_may_nest",
            "labels_are_ordinal",
            "kappa_weights",
            "majority_threshold",
            "accept_majority",
            "extra_raters_on_split",
            "honeypot_rate",
            "label_issue_top_n",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "allow_empty_label_set": 'Allow "none of these" (multi-label)',
            "spans_may_nest": "Spans may nest (spans)",
            "kappa_weights": "Weights of Cohen's kappa (ordinal labels)",
            "majority_threshold": "Majority threshold",
            "accept_majority": "Accept majorities without review",
            "extra_raters_on_split": "Extra raters on a split",
            "honeypot_rate": "Honeypot rate",
            "label_issue_top_n": "Label issues sent to review per run",
        }
        help_texts = {
            "majority_threshold": "Share of raters (above 0.5, at most 1) a label needs to count as a "
            "majority, e.g. 0.66 for 2 of 3. Anything below goes to the SME review queue.",
            "accept_majority": "If off, majorities also go to the review queue; only unanimous "
            "examples go straight to the clean set.",
            "extra_raters_on_split": "When the votes split, first ask up to this many more raters "
            "(0 to 10) before queueing the example for an SME.",
            "honeypot_rate": "Share (0 to 0.5) of the examples handed to labelers that are gold examples "
            "with a free seat; labelers cannot tell them apart, and their accuracy on gold is measured.",
        }

    def __init__(self, *args, task_type_fixed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task_type"].choices = TaskType.choices
        self.fields["task_type"].required = False
        if task_type_fixed:
            # Shown, not editable: a disabled field keeps the instance's value whatever is posted.
            for name in ("task_type", "spans_may_nest"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed: the project has annotations."
        self.fields["overlap"].min_value = 1
        self.fields["overlap"].max_value = 25
        self.fields["lease_minutes"].min_value = 1
        self.fields["lease_minutes"].max_value = 24 * 60
        self.fields["lease_queue_size"].min_value = 1
        self.fields["lease_queue_size"].max_value = 10
        self.fields["lease_queue_size"].required = False
        # The review rules keep their current values when a form leaves them out.
        self.fields["majority_threshold"].required = False
        self.fields["extra_raters_on_split"].required = False
        self.fields["kappa_weights"].required = False
        self.fields["honeypot_rate"].required = False
        self.fields["label_issue_top_n"].required = False
        if self.instance and not self.is_bound:
            self.initial["visible_metadata"] = ", ".join(self.instance.visible_metadata or [])

    def clean_majority_threshold(self) -> float:
        value = self.cleaned_data["majority_threshold"]
        if value is None:
            return self.instance.majority_threshold
        if not 0.5 < value <= 1.0:
            raise forms.ValidationError("Use a share above 0.5 and at most 1 (e.g. 0.66).")
        return value

    def clean_honeypot_rate(self) -> float:
        value = self.cleaned_data["honeypot_rate"]
        if value is None:
            return self.instance.honeypot_rate
        if not 0.0 <= value <= 0.5:
            raise forms.ValidationError("Use a share from 0 (no honeypots) to 0.5.")
        return value

    def clean_label_issue_top_n(self) -> int:
        value = self.cleaned_data["label_issue_top_n"]
        if value is None:
            return self.instance.label_issue_top_n
        if not 1 <= value <= 10_000:
            raise forms.ValidationError("Send 1 to 10000 likely label issues per run.")
        return value

    def clean_task_type(self) -> str:
        return self.cleaned_data["task_type"] or self.instance.task_type

    def clean_lease_queue_size(self) -> int:
        return self.cleaned_data["lease_queue_size"] or self.instance.lease_queue_size

    def clean_kappa_weights(self) -> str:
        return self.cleaned_data["kappa_weights"] or self.instance.kappa_weights

    def clean_extra_raters_on_split(self) -> int:
        value = self.cleaned_data["extra_raters_on_split"]
        if value is None:
            return self.instance.extra_raters_on_split
        if not 0 <= value <= 10:
            raise forms.ValidationError("Ask at most 10 extra raters.")
        return value

    def clean_visible_metadata(self) -> list[str]:
        raw = self.cleaned_data.get("visible_metadata") or ""
        fields = [part.strip() for part in raw.split(",") if part.strip()]
        if len(fields) > 20:
            raise forms.ValidationError("Show at most 20 metadata fields.")
        return fields


class LabelForm(forms.Form):
    name = forms.CharField(max_length=100)
    shortcut_key = forms.CharField(max_length=1, min_length=1, label="Key")
    colour = forms.RegexField(
        regex=r"^#[0-9a-fA-F]{6}$",
        initial="#4c78a8",
        max_length=7,
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    position = forms.IntegerField(min_value=0, max_value=1000, required=False)
    description = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MemberForm(forms.Form):
    """A member's new role (the settings table); people join through InvitationForm."""

    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, help_text="They get a link that works once, for a week.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.LABELER)


class InvitationAccountForm(forms.Form):
    """A new account made from an invitation: the address is the invited one."""

    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False, label="Password again")


class GuidelineDraftForm(forms.Form):
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"class": "guideline"}), strip=False)


class GuidelinePublishForm(forms.Form):
    changelog = forms.CharField(max_length=500, help_text="One line: what changed and why.")


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label="The file holds",
        required=False,  # examples when left out, as before annotations could be uploaded
        choices=[
            (ImportBatch.Kind.EXAMPLES, "Examples to label: a 'text' column, optionally an 'id'"),
            (
                ImportBatch.Kind.ANNOTATIONS,
                "Annotations made elsewhere: example_id, rater, label (labels for a set, spans "
                "in JSON Lines for a span project; optionally text), or a Label Studio JSON export",
            ),
            (ImportBatch.Kind.GOLD, "Gold labels: example_id, label"),
            (
                ImportBatch.Kind.PREDICTIONS,
                "A model's predictions: example_id, label, optional score and p_<label> probabilities",
            ),
        ],
        initial=ImportBatch.Kind.EXAMPLES,
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        label="File",
        help_text="CSV, TSV, JSON Lines (.jsonl), or a JSON file (examples: an array of objects; "
        "annotations: a Label Studio export), UTF-8; other columns become metadata. Images or audio: "
        "a .zip of the files with a manifest.csv (or .jsonl) whose 'file' column names each one.",
    )
    file_format = forms.ChoiceField(
        label="Format",
        required=False,
        choices=[
            ("", "From the file name"),
            ("csv", "CSV"),
            ("tsv", "TSV"),
            ("jsonl", "JSON Lines"),
            ("json", "JSON array of examples"),
            ("zip", "ZIP of images or audio with a manifest (examples)"),
            ("labelstudio", "Label Studio JSON export (annotations)"),
        ],
    )
    from_name = forms.CharField(
        label="Label Studio control (from_name)",
        required=False,
        max_length=200,
        help_text="Only for a Label Studio export whose labeling config has several choices (or labels) "
        "controls: the name of the one to import.",
    )

    model = forms.CharField(label="Model name (predictions)", required=False, max_length=100)
    model_version = forms.CharField(label="Model version (predictions)", required=False, max_length=100)
    replace = forms.BooleanField(
        label="Replace this model version's predictions",
        required=False,
        help_text="Only for predictions: a model name and version already imported from another file.",
    )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        kind = cleaned["kind"] = cleaned.get("kind") or ImportBatch.Kind.EXAMPLES
        if kind == ImportBatch.Kind.PREDICTIONS and not (cleaned.get("model") or "").strip():
            self.add_error("model", "Name the model the predictions come from.")
        importer = importer_get(kind)
        file_format = cleaned.get("file_format")
        if file_format and file_format not in importer.formats:
            what = ImportBatch.Kind(kind).label.lower()
            self.add_error("file_format", f"{file_format.upper()} is not a format for {what}.")
        if upload is None:
            return cleaned
        limit = settings.CONCORD_IMPORT_MAX_FILE_BYTES
        if upload.size > limit:
            self.add_error(
                "file", f"The file is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}."
            )
        if not file_format and importer.format_from_name(upload.name) is None:
            self.add_error(
                "file",
                "Name the file .csv, .tsv, .jsonl, .ndjson, .json or .zip, or choose its format.",
            )
        return cleaned
