"""Thin serializers for the consistency API."""

from rest_framework import serializers

from consistency.models import GuidelineVersion


class GuidelineVersionListSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", allow_null=True, default=None)

    class Meta:
        model = GuidelineVersion
        fields = ["number", "changelog", "author", "published_at"]


class GuidelineVersionSerializer(GuidelineVersionListSerializer):
    class Meta(GuidelineVersionListSerializer.Meta):
        fields = [*GuidelineVersionListSerializer.Meta.fields, "body"]
