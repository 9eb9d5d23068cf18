"""Projects API: my projects (and creating one), one project's settings, labels and members, its
examples, imports of examples and of annotations made elsewhere (both background jobs polled at
imports/<id>/), and its guideline (published versions, the draft, publishing).

Every view under projects/<slug>/ resolves the caller's membership through
projects.api.base.ProjectRolePermission and reads only through that project.
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    AllowListOrderingFilter,
    ClosedQueryMixin,
    ConflictSerializer,
    CursorPagination,
    query_params_validate,
)
from core.errors import ApplicationError, Conflict
from projects.api.base import MANAGERS, REVIEWERS, ProjectScopedMixin
from projects.api.selectors import (
    decisions_job_since,
    example_get_api,
    example_list_api,
    guideline_version_get_api,
    guideline_version_list_api,
    import_batch_get_api,
    label_get_api,
    label_list_api,
    membership_exists_api,
    membership_get_api,
    membership_list_api,
    membership_list_for_project_api,
)
from projects.api.serializers import (
    AnnotationImportRequestSerializer,
    ExampleFilterSerializer,
    ExampleSerializer,
    GoldImportRequestSerializer,
    GoldSampleRequestSerializer,
    GoldSampleSerializer,
    GuidelineDiffQuerySerializer,
    GuidelineDiffSerializer,
    GuidelineDraftSerializer,
    GuidelineDraftWriteSerializer,
    GuidelinePublishSerializer,
    GuidelineVersionListSerializer,
    GuidelineVersionSerializer,
    ImportBatchSerializer,
    ImportQueuedSerializer,
    ImportRequestSerializer,
    InvitationAcceptSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    JoinedSerializer,
    LabelSerializer,
    LabelWriteSerializer,
    MemberCreateSerializer,
    MembershipSerializer,
    MemberUpdateSerializer,
    PredictionImportRequestSerializer,
    ProjectCreatedSerializer,
    ProjectCreateSerializer,
    ProjectDetailSerializer,
    ProjectListSerializer,
    ProjectUpdatedSerializer,
    ProjectUpdateSerializer,
    label_arguments,
)
from projects.guideline_diff import diff_guideline_text
from projects.media import SERVABLE_TYPES
from projects.media_files import media_file_response
from projects.models import Example, GuidelineVersion, ImportBatch, Label, Membership
from projects.selectors import (
    PROJECT_CREATORS_MESSAGE,
    example_media_find,
    guideline_draft_get,
    guideline_in_force,
    invitation_list_pending,
    project_create_allowed,
)
from projects.services import gold as gold_services
from projects.services import guidelines as guideline_services
from projects.services import invitations as invitation_services
from projects.services import projects as project_services
from projects.services.imports import import_batch_create


def conflict(description: str) -> OpenApiResponse:
    return OpenApiResponse(ConflictSerializer, description=description)


class ProjectListApi(ClosedQueryMixin, generics.ListAPIView):
    """GET: the projects I am a member of, with my role in each. POST: create a project with its
    labels; I become its manager (who may create projects: CONCORD_PROJECT_CREATORS)."""

    permission_classes = [IsAuthenticated]
    serializer_class = ProjectListSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return membership_list_api(user=self.request.user)

    @extend_schema(
        request=ProjectCreateSerializer,
        responses={
            201: ProjectCreatedSerializer,
            403: OpenApiResponse(description="You may not create projects (CONCORD_PROJECT_CREATORS)."),
        },
    )
    def post(self, request):
        if not project_create_allowed(user=request.user):
            raise exceptions.PermissionDenied(PROJECT_CREATORS_MESSAGE[settings.CONCORD_PROJECT_CREATORS])
        form = ProjectCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        project = project_services.project_create(
            creator=request.user,
            name=data["name"],
            slug=data["slug"],
            description=data["description"],
            overlap=data["overlap"],
            labels=[label_arguments(label) for label in data["labels"]],
            task_type=data["task_type"],
            allow_empty_label_set=data["allow_empty_label_set"],
            spans_may_nest=data["spans_may_nest"],
        )
        url = request.build_absolute_uri(reverse("api:project", kwargs={"slug": project.slug}))
        body = ProjectCreatedSerializer(project).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": url})


class ProjectDetailApi(ProjectScopedMixin, APIView):
    """GET: one project: settings every member needs, its labels and the guideline version in
    force. PATCH (managers): change its settings, as on the settings page."""

    project_roles_by_method = {"PATCH": MANAGERS}

    @extend_schema(responses=ProjectDetailSerializer)
    def get(self, request, slug: str):
        project = request.project
        serializer = ProjectDetailSerializer(
            project,
            context={
                "role": request.membership.role,
                "labels": list(label_list_api(project=project)),
                "guideline_in_force": guideline_in_force(project=project),
            },
        )
        return Response(serializer.data)

    @extend_schema(
        request=ProjectUpdateSerializer,
        responses={
            200: ProjectUpdatedSerializer,
            409: conflict(
                "The task type (or whether spans may nest) cannot change: the project has annotations."
            ),
        },
    )
    def patch(self, request, slug: str):
        form = ProjectUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        started = timezone.now()
        before = [getattr(request.project, name) for name in project_services.REVIEW_RULE_FIELDS]
        project = project_services.project_update(
            project=request.project, user=request.user, **form.validated_data
        )
        after = [getattr(project, name) for name in project_services.REVIEW_RULE_FIELDS]
        job = decisions_job_since(project=project, since=started) if after != before else None
        return Response(ProjectUpdatedSerializer(project, context={"decisions_job": job}).data)


def _label_save(**arguments):
    """label_save, with its field errors under the API's names (key, color)."""
    try:
        return project_services.label_save(**arguments)
    except Conflict:
        raise
    except ApplicationError as exc:
        names = {"shortcut_key": "key", "colour": "color"}
        fields = {names.get(name, name): messages for name, messages in exc.extra.items()}
        raise exceptions.ValidationError({"detail": exc.message, **fields}) from None


class LabelListApi(ProjectScopedMixin, generics.ListAPIView):
    """GET: the project's labels in their display order. POST (managers): add a label."""

    serializer_class = LabelSerializer
    project_roles_by_method = {"POST": MANAGERS}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Label.objects.none()
        return label_list_api(project=self.request.project)

    @extend_schema(
        request=LabelWriteSerializer,
        responses={201: LabelSerializer, 409: conflict("Every shortcut key is taken by another label.")},
    )
    def post(self, request, slug: str):
        form = LabelWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        label = _label_save(
            project=request.project, **{"shortcut_key": "", **label_arguments(form.validated_data)}
        )
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetailApi(ProjectScopedMixin, APIView):
    """PATCH: change a label (fields left out keep their values). DELETE: remove a label no
    annotation uses (409 otherwise: rename it instead). Managers."""

    project_roles = MANAGERS

    @extend_schema(request=LabelWriteSerializer(partial=True), responses=LabelSerializer)
    def patch(self, request, slug: str, id: int):
        label = label_get_api(project=request.project, label_id=id)
        form = LabelWriteSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        current = {
            "name": label.name,
            "description": label.description,
            "shortcut_key": label.shortcut_key,
            "colour": label.colour,
            "position": label.position,
        }
        label = _label_save(
            project=request.project, label_id=label.pk, **{**current, **label_arguments(form.validated_data)}
        )
        return Response(LabelSerializer(label).data)

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="Deleted."),
            409: conflict("Annotations use this label."),
        },
    )
    def delete(self, request, slug: str, id: int):
        project_services.label_delete(project=request.project, label_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------------------------------
# Members


class MemberListApi(ProjectScopedMixin, generics.ListAPIView):
    """GET: the project's members and their roles. POST: give a member another role (200). People
    join only by accepting an invitation (POST .../invitations/): naming someone who is not a
    member is a 403, the same whether or not the account exists. Managers."""

    project_roles = MANAGERS
    serializer_class = MembershipSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return membership_list_for_project_api(project=self.request.project)

    @extend_schema(
        request=MemberCreateSerializer,
        responses={
            201: MembershipSerializer,
            200: OpenApiResponse(MembershipSerializer, description="Already a member: their role changed."),
        },
    )
    def post(self, request, slug: str):
        form = MemberCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        username = form.validated_data["username"]
        existed = membership_exists_api(project=request.project, username=username)
        try:
            membership = project_services.membership_save(
                project=request.project,
                actor=request.user,
                username=username,
                role=form.validated_data["role"],
            )
        except ApplicationError as exc:
            if "username" in exc.extra:  # the API creates no accounts: no password to offer
                raise exceptions.ValidationError({"username": [f"There is no user '{username}'."]}) from None
            raise
        membership = membership_get_api(project=request.project, membership_id=membership.pk)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(MembershipSerializer(membership).data, status=code)


class InvitationListApi(ProjectScopedMixin, APIView):
    """GET: the project's pending invitations. POST {email, role}: invite someone; the link goes
    by email (Django's email backend) and works once, until it expires. Inviting an address again
    replaces the pending invitation. Managers."""

    project_roles = MANAGERS

    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request, slug: str):
        rows = invitation_list_pending(project=request.project)
        return Response(InvitationSerializer(rows, many=True).data)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer})
    def post(self, request, slug: str):
        form = InvitationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        invitation = invitation_services.invitation_create(
            project=request.project,
            actor=request.user,
            email=form.validated_data["email"],
            role=form.validated_data["role"],
            site_url=request.build_absolute_uri("/"),
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationAcceptApi(APIView):
    """POST {token}: join the invitation's project as the signed-in account (201). When an account
    already holds the invited address, only that account may accept. An expired, used, withdrawn
    or tampered token is a 400 that says which."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=InvitationAcceptSerializer, responses={201: JoinedSerializer})
    def post(self, request):
        form = InvitationAcceptSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        membership = invitation_services.invitation_accept(
            token=form.validated_data["token"], user=request.user
        )
        return Response(JoinedSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(ProjectScopedMixin, APIView):
    """PATCH {role}: change a member's role. DELETE: remove them from the project. A project
    keeps at least one manager (400). Managers."""

    project_roles = MANAGERS

    @extend_schema(request=MemberUpdateSerializer(partial=True), responses=MembershipSerializer)
    def patch(self, request, slug: str, id: int):
        membership = membership_get_api(project=request.project, membership_id=id)
        form = MemberUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        if "role" in form.validated_data:
            project_services.membership_save(
                project=request.project,
                actor=request.user,
                username=membership.user.username,
                role=form.validated_data["role"],
            )
        membership = membership_get_api(project=request.project, membership_id=id)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="Removed."),
            400: OpenApiResponse(
                inline_serializer("LastManager", {"detail": serializers.CharField()}),
                description="The project's only manager cannot leave it.",
            ),
        },
    )
    def delete(self, request, slug: str, id: int):
        project_services.membership_remove(project=request.project, membership_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------------------------------
# Examples and imports


@extend_schema(parameters=[ExampleFilterSerializer])
class ExampleListApi(ProjectScopedMixin, generics.ListAPIView):
    """The project's examples (managers and SMEs), cursor-paginated.

    Labelers are refused: examples carry metadata the project hides from them and annotation
    counts that reveal other raters' progress; they get examples through the labeling page.
    """

    project_roles = REVIEWERS
    serializer_class = ExampleSerializer
    query_serializer_class = ExampleFilterSerializer
    pagination_class = CursorPagination
    filter_backends = [AllowListOrderingFilter]
    ordering_choices = ("id", "-id")
    ordering = ["id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Example.objects.none()
        filters = query_params_validate(ExampleFilterSerializer, self.request)
        return example_list_api(project=self.request.project, **filters)


class ExampleDetailApi(ProjectScopedMixin, generics.RetrieveAPIView):
    """One example of the project (managers and SMEs)."""

    project_roles = REVIEWERS
    serializer_class = ExampleSerializer
    queryset = Example.objects.none()  # for the schema only; get_object reads through the project

    def get_object(self):
        return example_get_api(project=self.request.project, example_id=self.kwargs["id"])


class ExampleMediaApi(ProjectScopedMixin, APIView):
    """An example's image or audio file, for any member of the project (the labeling page shows
    it to labelers too): its checked content type, `nosniff`, `Cache-Control: private` and single
    byte ranges (206). 404 for an example without media."""

    @extend_schema(
        responses={
            **{
                (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")
                for media_type in sorted(SERVABLE_TYPES)
            },
            **{
                (206, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The asked byte range.")
                for media_type in sorted(SERVABLE_TYPES)
            },
            404: OpenApiResponse(description="No such example, or it has no media file."),
        }
    )
    def get(self, request, slug: str, id: int):
        example = example_media_find(project=request.project, example_id=id)
        return media_file_response(request, example)


class ExampleImportApi(ProjectScopedMixin, APIView):
    """Upload a file of examples (managers): the import runs in the background; poll `url`."""

    project_roles = MANAGERS
    parser_classes = [MultiPartParser]
    throttle_scope = "imports"  # each upload is a background job: the strictest write rate

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={202: ImportQueuedSerializer, 400: OpenApiResponse(description="Invalid file or format.")},
    )
    def post(self, request, slug: str):
        form = ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return _queued(request, form, kind=ImportBatch.Kind.EXAMPLES, options={})


def _queued(request, form, *, kind: str, options: dict) -> Response:
    """Store the upload and queue its import; 202 with the URL to poll (also in Location)."""
    upload = form.validated_data["file"]
    try:
        batch = import_batch_create(
            project=request.project,
            user=request.user,
            uploaded_file_or_path=upload,
            source_name=upload.name,
            file_format=form.validated_data.get("format") or None,
            kind=kind,
            options=options,
        )
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"file": exc.messages}) from None
    url = request.build_absolute_uri(
        reverse("api:project_import", kwargs={"slug": request.project.slug, "id": batch.pk})
    )
    data = ImportQueuedSerializer({"id": batch.pk, "status": batch.status, "url": url, "job": batch}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class AnnotationImportApi(ProjectScopedMixin, APIView):
    """Upload annotations made elsewhere (managers); the import runs in the background, then the
    project's decision rules run on the examples it touched. Poll `url`.

    All or nothing, as the command line: any invalid row means nothing is written and the errors
    name the line (and the Label Studio task) and the field. Unknown labels, and unknown examples
    without a text, are errors here: `create` exists only on the command line, where the file is
    the operator's own, so a script's upload can never add labels or text-less examples to a
    project by accident.
    """

    project_roles = MANAGERS
    parser_classes = [MultiPartParser]
    throttle_scope = "imports"

    @extend_schema(
        request={"multipart/form-data": AnnotationImportRequestSerializer},
        responses={202: ImportQueuedSerializer, 400: OpenApiResponse(description="Invalid file or format.")},
    )
    def post(self, request, slug: str):
        if "create" in request.data:
            raise exceptions.ValidationError(
                {"create": ["Only the command line may create labels and examples from a file."]}
            )
        form = AnnotationImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        options = {"from_name": form.validated_data.get("from_name", "")}
        return _queued(request, form, kind=ImportBatch.Kind.ANNOTATIONS, options=options)


class GoldImportApi(ProjectScopedMixin, APIView):
    """Upload gold labels (managers): `example_id,label`; all or nothing in the background. Unknown
    examples or labels, and one example given two labels, fail the import with line and field."""

    project_roles = MANAGERS
    parser_classes = [MultiPartParser]
    throttle_scope = "imports"

    @extend_schema(
        request={"multipart/form-data": GoldImportRequestSerializer},
        responses={202: ImportQueuedSerializer, 400: OpenApiResponse(description="Invalid file or format.")},
    )
    def post(self, request, slug: str):
        form = GoldImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return _queued(request, form, kind=ImportBatch.Kind.GOLD, options={})


class PredictionImportApi(ProjectScopedMixin, APIView):
    """Upload a model's predictions (managers), all or nothing in the background. A model name and
    version imported before from a different file is refused unless `replace` is true."""

    project_roles = MANAGERS
    parser_classes = [MultiPartParser]
    throttle_scope = "imports"

    @extend_schema(
        request={"multipart/form-data": PredictionImportRequestSerializer},
        responses={202: ImportQueuedSerializer, 400: OpenApiResponse(description="Invalid file or format.")},
    )
    def post(self, request, slug: str):
        form = PredictionImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        replace = data.get("replace") == "true"
        options = {"model": data["model"], "version": data.get("version") or "", "replace": replace}
        return _queued(request, form, kind=ImportBatch.Kind.PREDICTIONS, options=options)


class GoldSampleApi(ProjectScopedMixin, APIView):
    """Draw a seeded random sample of examples (managers) for an SME to label as gold."""

    project_roles = MANAGERS

    @extend_schema(
        request=GoldSampleRequestSerializer,
        responses={201: GoldSampleSerializer, 400: OpenApiResponse(description="Invalid size or share.")},
    )
    def post(self, request, slug: str):
        form = GoldSampleRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        share = data.get("share")
        drawn = gold_services.gold_sample_draw(
            project=request.project,
            user=request.user,
            size=None if share is not None else data.get("size", 100),
            share=share,
            seed=data.get("seed"),
        )
        ids = [gold.example_id for gold in drawn]
        return Response(GoldSampleSerializer({"drawn": len(ids), "example_ids": ids}).data, status=201)


class ImportBatchDetailApi(ProjectScopedMixin, APIView):
    """An import's kind, status, progress percent (null once failed), counts, summary and its
    first errors (line, column, message)."""

    project_roles = MANAGERS

    @extend_schema(responses=ImportBatchSerializer)
    def get(self, request, slug: str, id: int):
        batch = import_batch_get_api(project=request.project, batch_id=id)
        return Response(ImportBatchSerializer(batch).data)


# --------------------------------------------------------------------------------------------------
# Guidelines


class GuidelineVersionListApi(ProjectScopedMixin, generics.ListAPIView):
    """GET: published guideline versions, newest first (the first is the one in force).
    POST (managers): publish the draft as the next version, with a changelog line."""

    serializer_class = GuidelineVersionListSerializer
    project_roles_by_method = {"POST": MANAGERS}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return GuidelineVersion.objects.none()
        return guideline_version_list_api(project=self.request.project)

    @extend_schema(
        request=GuidelinePublishSerializer,
        responses={
            201: GuidelineVersionSerializer,
            409: conflict("The draft is empty, or the same as the version in force."),
        },
    )
    def post(self, request, slug: str):
        form = GuidelinePublishSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        version = guideline_services.guideline_publish(
            project=request.project, user=request.user, changelog=form.validated_data["changelog"]
        )
        version = guideline_version_get_api(project=request.project, number=version.number)
        return Response(GuidelineVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class GuidelineDraftApi(ProjectScopedMixin, APIView):
    """The guideline's working draft (managers and SMEs, who write guidelines; never labelers):
    GET it, PUT {body} to replace it. Managers publish it at guideline-versions/."""

    project_roles = REVIEWERS

    @extend_schema(responses=GuidelineDraftSerializer)
    def get(self, request, slug: str):
        return Response(GuidelineDraftSerializer(guideline_draft_get(project=request.project)).data)

    @extend_schema(request=GuidelineDraftWriteSerializer, responses=GuidelineDraftSerializer)
    def put(self, request, slug: str):
        form = GuidelineDraftWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        draft = guideline_services.guideline_draft_save(
            project=request.project, user=request.user, body=form.validated_data["body"]
        )
        return Response(GuidelineDraftSerializer(draft).data)


class GuidelineVersionDetailApi(ProjectScopedMixin, APIView):
    """One published guideline version, with its Markdown body."""

    @extend_schema(responses=GuidelineVersionSerializer)
    def get(self, request, slug: str, number: int):
        version = guideline_version_get_api(project=request.project, number=number)
        return Response(GuidelineVersionSerializer(version).data)


class GuidelineVersionDiffApi(ProjectScopedMixin, APIView):
    """The word-level changes from version `a` to version `b` of the published guideline, as HTML
    (all text escaped; removals in <del>, additions in <ins>) with word counts."""

    query_serializer_class = GuidelineDiffQuerySerializer

    @extend_schema(parameters=[GuidelineDiffQuerySerializer], responses=GuidelineDiffSerializer)
    def get(self, request, slug: str):
        query = query_params_validate(GuidelineDiffQuerySerializer, request)
        old = guideline_version_get_api(project=request.project, number=query["a"])
        new = guideline_version_get_api(project=request.project, number=query["b"])
        diff = diff_guideline_text(old.body, new.body)
        data = {"a": old.number, "b": new.number, "html": str(diff.html), "stats": diff.stats}
        return Response(GuidelineDiffSerializer(data).data)
