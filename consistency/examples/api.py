"""Tagging many examples at once over the REST API (managers and SMEs): by a list of ids or by
the example browser's filters. Tags are slices everywhere (agreement, model reports, releases)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from consistency.examples.browser import example_ids_matching
from core.api import ClosedSerializer
from projects.api.base import REVIEWERS, ProjectScopedMixin
from projects.services.tags import MAX_BULK_EXAMPLES, example_tags_bulk


class TagBulkRequestSerializer(ClosedSerializer):
    tag = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_.-]{0,49}$", help_text="The tag: lowercase letters, digits, '.', '-', '_'."
    )
    remove = serializers.BooleanField(required=False, default=False, help_text="Remove the tag instead.")
    example_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        min_length=1,
        max_length=MAX_BULK_EXAMPLES,
        help_text="The examples' ids.",
    )
    filter = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        help_text="Or: the example browser's filters (q, label, status, field, value, tag, release, ...).",
    )

    def validate(self, attrs):
        if ("example_ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError({"example_ids": ["Give either example_ids or filter."]})
        return attrs


class TagBulkResultSerializer(serializers.Serializer):
    tag = serializers.CharField()
    changed = serializers.IntegerField(help_text="Examples tagged (or untagged) now.")
    unchanged = serializers.IntegerField(help_text="Examples that already had (or lacked) the tag.")


class TagBulkApi(ProjectScopedMixin, APIView):
    """Add or remove one tag on many examples: all or nothing; an unknown id or a bad filter is a
    400 naming it."""

    project_roles = REVIEWERS

    @extend_schema(
        request=TagBulkRequestSerializer,
        responses={200: TagBulkResultSerializer, 400: OpenApiResponse(description="Bad tag, ids or filter.")},
    )
    def post(self, request, slug: str):
        form = TagBulkRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        ids = data.get("example_ids")
        if ids is None:
            ids = example_ids_matching(project=request.project, params=data["filter"])
            if not ids:
                return Response(
                    TagBulkResultSerializer({"tag": data["tag"], "changed": 0, "unchanged": 0}).data
                )
        result = example_tags_bulk(
            project=request.project,
            user=request.user,
            name=data["tag"],
            example_ids=ids,
            remove=data["remove"],
        )
        return Response(TagBulkResultSerializer({"tag": data["tag"], **result}).data)
