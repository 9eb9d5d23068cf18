"""Labeling API: managers and SMEs read every annotation of the project, labelers their own; and
labelers label through it as on the labeling page (the same services: overlap k, leases, blind,
guideline version stamped, decision rules)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import AllowListOrderingFilter, ConflictSerializer, CursorPagination, query_params_validate
from core.errors import ApplicationError, Conflict
from labeling.api.selectors import (
    annotation_list_api,
    assignment_get_api,
    example_visible_metadata,
    label_id_from_name_or_id,
)
from labeling.api.serializers import (
    AnnotationFilterSerializer,
    AnnotationSerializer,
    AnnotationSubmitSerializer,
    AnnotationWithNextSerializer,
    AssignmentSerializer,
    AssignmentSkipSerializer,
    annotation_payload,
    annotation_submit_data,
    assignment_payload,
)
from labeling.models import Annotation
from labeling.selectors import guideline_stamp, labels_for_labeling
from labeling.services import annotations as services
from projects.api.base import ProjectScopedMixin
from projects.models import Role

LABELERS: tuple[str, ...] = (Role.LABELER,)

CONFLICT = OpenApiResponse(
    ConflictSerializer,
    description="The state of things refuses it: a lease lost or someone else's, an example already "
    "labeled or skipped, nothing to undo. Nothing was saved.",
)


class LabelingMixin(ProjectScopedMixin):
    """Labelers only (only labelers label, so nobody rates an example while seeing who else rated
    it); their writes count against the `labeling` rate instead of the general write rate, since
    next and submit are two writes per example."""

    project_roles = LABELERS
    write_throttle_scope = "labeling"


def _lease_payload(request, assignment) -> dict:
    """A lease as the API shows it (AssignmentSerializer's JSON)."""
    project = request.project
    version = guideline_stamp(project=project)
    context = {
        "metadata": example_visible_metadata(project=project, example=assignment.example),
        "guideline_version": version.number if version is not None else None,
        "request": request,
        "task_type": project.task_type,
        "allow_empty_label_set": project.allow_empty_label_set,
        "spans_may_nest": project.spans_may_nest,
    }
    return assignment_payload(assignment, context=context)


def _next_lease(request) -> dict | None:
    """The caller's lease to label now, as assignments/next/ gives it (None: nothing is left).
    One lease at a time through the API (a script asks again after each submit); a page the same
    labeler has open may hold more, and the first of them is the one returned."""
    queue = services.lease_queue(
        project=request.project, user=request.user, size=1, membership=request.membership
    )
    return _lease_payload(request, queue[0]) if queue else None


def _own_assignment(request, assignment_id: int, *, in_path: bool = False, with_labels: bool = False):
    """The caller's assignment: when the project has none of that id, 404 for an address and 400
    naming the field for a body; 409 when it is another labeler's. `with_labels`: the project's
    labels are read with it (selectors.assignment_get_api)."""
    assignment = assignment_get_api(
        project=request.project, assignment_id=assignment_id, with_labels=with_labels
    )
    if assignment is None and in_path:
        raise exceptions.NotFound("Assignment not found.")
    if assignment is None:
        raise exceptions.ValidationError({"assignment": ["This project has no assignment with this id."]})
    if assignment.rater_id != request.user.pk:
        raise Conflict("This assignment is another labeler's lease, not yours.")
    return assignment


class AssignmentNextApi(LabelingMixin, APIView):
    """The example to label now, held for you by a lease until `expires_at`: the same lease again
    while it is live, or 204 when nothing is left for you."""

    @extend_schema(
        request=None,
        responses={
            200: AssignmentSerializer,
            204: OpenApiResponse(description="Nothing is left for you to label in this project."),
        },
    )
    def post(self, request, slug: str):
        lease = _next_lease(request)
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(lease)


class AssignmentSkipApi(LabelingMixin, APIView):
    """Give your leased example back, with a reason: you never get it again."""

    @extend_schema(
        request=AssignmentSkipSerializer,
        responses={204: OpenApiResponse(description="Skipped."), 409: CONFLICT},
    )
    def post(self, request, slug: str, id: int):
        form = AssignmentSkipSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        assignment = _own_assignment(request, id, in_path=True)
        services.assignment_skip(
            project=request.project,
            user=request.user,
            example_id=assignment.example_id,
            reason=form.validated_data["reason"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnnotationListApi(ProjectScopedMixin, generics.ListAPIView):
    """GET: the project's annotations, cursor-paginated: all of them for managers and SMEs (with
    the rater's username), only the caller's own for labelers, whatever the filters say.

    POST (labelers): your label for the example your lease holds. The same `client_token` again
    returns the first annotation (200) and stores nothing; a lease that was lost (it expired and
    other labelers completed the example) or is someone else's is a 409. With `next: true` the
    answer also brings the lease to label next (`next`; null when nothing is left), so a script
    labels with one request per example, as the labeling page does."""

    serializer_class = AnnotationSerializer
    query_serializer_class = AnnotationFilterSerializer
    pagination_class = CursorPagination
    filter_backends = [AllowListOrderingFilter]
    ordering_choices = ("created_at", "-created_at", "id", "-id")
    ordering = ["id"]
    project_roles_by_method = {"POST": LABELERS}
    write_throttle_scope = "labeling"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Annotation.objects.none()
        filters = query_params_validate(AnnotationFilterSerializer, self.request)
        return annotation_list_api(membership=self.request.membership, user=self.request.user, **filters)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self.request, "project", None) is not None:
            context["label_names"] = dict(self.request.project.labels.values_list("pk", "name"))
        return context

    @extend_schema(parameters=[AnnotationFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=AnnotationSubmitSerializer,
        responses={
            201: OpenApiResponse(
                AnnotationWithNextSerializer, description="Saved; `next` only when the request asks for it."
            ),
            200: OpenApiResponse(
                AnnotationWithNextSerializer,
                description="A replay: the annotation of this token (with `next`: your lease now).",
            ),
            409: CONFLICT,
        },
    )
    def post(self, request, slug: str):
        data = annotation_submit_data(request.data)
        if data is None:  # not the plain shape: the serializer checks it and names what is wrong
            form = AnnotationSubmitSerializer(data=request.data)
            form.is_valid(raise_exception=True)
            data = form.validated_data
        assignment = _own_assignment(request, data["assignment"], with_labels=True)
        labels = labels_for_labeling(project=request.project)
        label_id, label_ids = None, None
        spans = [dict(span) for span in data["spans"]] if "spans" in data else None
        if "label" in data:
            label_id = label_id_from_name_or_id(labels=labels, value=data["label"])
            if label_id is None:
                raise exceptions.ValidationError({"label": ["This project has no label of that name or id."]})
        elif "labels" in data:
            label_ids = []
            for position, value in enumerate(data["labels"]):
                found = label_id_from_name_or_id(labels=labels, value=value)
                if found is None:
                    message = (
                        f"Item {position + 1} ({value[:100]!r}): not a label of this project (name or id)."
                    )
                    raise exceptions.ValidationError({"labels": [message]})
                label_ids.append(found)
        token = data.get("client_token")
        annotation = services.annotation_submit(
            project=request.project,
            user=request.user,
            example_id=assignment.example_id,
            label_id=label_id,
            labels=label_ids,
            spans=spans,
            client_token=token,
            ambiguous=data["ambiguous"],
            ambiguous_note=data.get("ambiguous_note", ""),
            note=data.get("note", ""),
            time_spent_ms=data.get("time_spent_ms"),
        )
        # Everything the answer shows is in hand: the locked example, the label, the guideline.
        annotation.rater = request.user
        code = status.HTTP_200_OK if annotation.replay else status.HTTP_201_CREATED
        names = {label.pk: label.name for label in labels}
        payload = annotation_payload(annotation, label_names=names)
        if data["next"]:
            try:
                payload["next"] = _next_lease(request)
            except ApplicationError:
                # The label is saved and its answer stands; no lease could be held just now (the
                # same labeler's other requests took the queue positions): assignments/next/ asks again.
                payload["next"] = None
        return Response(payload, status=code)


class AnnotationUndoApi(LabelingMixin, APIView):
    """Take back your most recent label while it is still editable: its example is your lease
    again (200, as from assignments/next/); 409 when there is nothing to undo."""

    @extend_schema(request=None, responses={200: AssignmentSerializer, 409: CONFLICT})
    def post(self, request, slug: str):
        assignment = services.annotation_undo(project=request.project, user=request.user)
        return Response(_lease_payload(request, assignment))
