"""Thin serializers for the annotations API."""

from rest_framework import serializers

from core.api import NO_NUL_CHARACTERS
from labeling.models import Annotation


class AnnotationSerializer(serializers.ModelSerializer):
    example = serializers.IntegerField(source="example.id")
    example_external_id = serializers.CharField(source="example.external_id")
    rater = serializers.CharField(source="rater.username")
    label = serializers.CharField(source="label.name")
    guideline_version = serializers.IntegerField(source="guideline_version.number", allow_null=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "example",
            "example_external_id",
            "rater",
            "label",
            "guideline_version",
            "ambiguous",
            "ambiguous_note",
            "note",
            "time_spent_ms",
            "source",
            "created_at",
            "superseded_at",
        ]


class AnnotationFilterSerializer(serializers.Serializer):
    rater = serializers.CharField(
        required=False, max_length=150, validators=[NO_NUL_CHARACTERS], help_text="A rater's username."
    )
    label = serializers.CharField(
        required=False, max_length=100, validators=[NO_NUL_CHARACTERS], help_text="A label's name."
    )
    guideline_version = serializers.IntegerField(required=False, min_value=1, help_text="A version number.")
    ambiguous = serializers.BooleanField(required=False, allow_null=True, default=None)
    created_after = serializers.DateTimeField(required=False)
    current = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only annotations in force; false: only those superseded by a relabeling.",
    )
