"""Annotations API: managers and SMEs read every annotation of the project, labelers their own."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics

from core.api import AllowListOrderingFilter, CursorPagination, query_params_validate
from labeling.api.selectors import annotation_list_api
from labeling.api.serializers import AnnotationFilterSerializer, AnnotationSerializer
from labeling.models import Annotation
from projects.api.base import ProjectScopedMixin


@extend_schema(parameters=[AnnotationFilterSerializer])
class AnnotationListApi(ProjectScopedMixin, generics.ListAPIView):
    """The project's annotations, cursor-paginated: all of them for managers and SMEs (with the
    rater's username), only the caller's own for labelers, whatever the filters say."""

    serializer_class = AnnotationSerializer
    query_serializer_class = AnnotationFilterSerializer
    pagination_class = CursorPagination
    filter_backends = [AllowListOrderingFilter]
    ordering_choices = ("created_at", "-created_at", "id", "-id")
    ordering = ["id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Annotation.objects.none()
        filters = query_params_validate(AnnotationFilterSerializer, self.request)
        return annotation_list_api(membership=self.request.membership, user=self.request.user, **filters)
