"""Project pages: my projects, a project, and the managers' settings (labels, members, guideline)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.errors import ApplicationError
from projects.access import project_role_required
from projects.forms import (
    InvitationForm,
    LabelForm,
    MemberForm,
    ProjectCreateForm,
    ProjectSettingsForm,
)
from projects.models import ImportBatch, Role
from projects.selectors import (
    PROJECT_CREATORS_MESSAGE,
    guideline_in_force,
    import_batch_list,
    invitation_list_pending,
    project_create_allowed,
    project_list_for_user,
    project_members,
)
from projects.services import projects as services


@require_safe
@login_required
def project_list(request):
    projects = project_list_for_user(user=request.user)
    roles = dict(request.user.memberships.values_list("project_id", "role"))
    rows = [(project, Role(roles[project.pk]).label) for project in projects]
    context = {"rows": rows, "can_create": project_create_allowed(user=request.user)}
    return render(request, "projects/list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def project_create(request):
    if not project_create_allowed(user=request.user):
        message = PROJECT_CREATORS_MESSAGE[settings.CONCORD_PROJECT_CREATORS]
        return render(request, "403.html", {"message": message}, status=403)
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(creator=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            field = next(iter(exc.extra or {}), "slug")
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Project '{project.name}' created. Add labels and members next.")
            return redirect("projects:settings", slug=project.slug)
    return render(request, "projects/create.html", {"form": form})


@require_safe
@project_role_required()
def project_detail(request, slug):
    project = request.project
    counts = project.examples.aggregate(
        total=Count("id"),
        complete=Count("id", filter=Q(annotation_count__gte=project.overlap)),
        started=Count("id", filter=Q(annotation_count__gt=0, annotation_count__lt=project.overlap)),
    )
    context = {
        "project": project,
        "counts": counts,
        "labels": project.labels.all(),
        "guideline": guideline_in_force(project=project),
        "is_manager": request.membership.role == Role.MANAGER,
        "is_reviewer": request.membership.role in (Role.MANAGER, Role.SME),
        "is_labeler": request.membership.role == Role.LABELER,
    }
    return render(request, "projects/detail.html", context)


def _settings_context(request, **overrides):
    project = request.project
    context = {
        "project": project,
        "settings_form": ProjectSettingsForm(
            instance=project, task_type_fixed=services.project_has_annotations(project=project)
        ),
        "label_form": LabelForm(),
        "member_form": MemberForm(),
        "labels": project.labels.annotate(n_annotations=Count("annotations")),
        "members": project_members(project=project),
        "roles": Role.choices,
        "versions": project.guideline_versions.select_related("author"),
        "invitation_form": InvitationForm(),
        "invitations": invitation_list_pending(project=project),
    }
    context.update(overrides)
    return context


@require_http_methods(["GET", "POST"])
@project_role_required(Role.MANAGER)
def project_settings(request, slug):
    if request.method == "POST":
        rules_before = [getattr(request.project, name) for name in services.REVIEW_RULE_FIELDS]
        started = timezone.now()
        form = ProjectSettingsForm(
            request.POST,
            instance=request.project,
            task_type_fixed=services.project_has_annotations(project=request.project),
        )
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
            fields["visible_metadata"] = form.cleaned_data["visible_metadata"]
            try:
                project = services.project_update(project=request.project, user=request.user, **fields)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                rules_after = [getattr(project, name) for name in services.REVIEW_RULE_FIELDS]
                job = (
                    import_batch_list(project=project)
                    .filter(kind=ImportBatch.Kind.DECISIONS)
                    .filter(Q(created_at__gte=started) | Q(status=ImportBatch.Status.QUEUED))
                    .first()
                    if rules_after != rules_before
                    else None
                )
                if job is not None:
                    # The examples are re-decided in the background: show its progress.
                    messages.success(
                        request,
                        "Settings saved. The review rules changed, so the examples are being re-decided; "
                        "SME decisions are kept.",
                    )
                    return redirect("projects:import_status", slug=slug, batch_id=job.pk)
                messages.success(request, "Settings saved.")
                return redirect("projects:settings", slug=slug)
        return render(
            request, "projects/settings.html", _settings_context(request, settings_form=form), status=400
        )
    return render(request, "projects/settings.html", _settings_context(request))


@require_POST
@project_role_required(Role.MANAGER)
def label_save(request, slug):
    form = LabelForm(request.POST)
    label_id = request.POST.get("label_id") or None
    if form.is_valid():
        try:
            label = services.label_save(
                project=request.project,
                label_id=int(label_id) if label_id and label_id.isdigit() else None,
                **form.cleaned_data,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Label '{label.name}' saved.")
    else:
        problems = "; ".join(f"{form.fields[f].label or f}: {' '.join(e)}" for f, e in form.errors.items())
        messages.error(request, f"The label was not saved. {problems}")
    return redirect("projects:settings", slug=slug)


@require_POST
@project_role_required(Role.MANAGER)
def label_delete(request, slug, label_id):
    try:
        services.label_delete(project=request.project, label_id=label_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Label deleted.")
    return redirect("projects:settings", slug=slug)


@require_POST
@project_role_required(Role.MANAGER)
def member_save(request, slug):
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            membership = services.membership_save(
                project=request.project, actor=request.user, **form.cleaned_data
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{membership.user.username} is now {membership.get_role_display().lower()}."
            )
    else:
        messages.error(request, "Give a username and a role.")
    return redirect("projects:settings", slug=slug)


@require_POST
@project_role_required(Role.MANAGER)
def member_remove(request, slug, membership_id):
    try:
        services.membership_remove(project=request.project, membership_id=membership_id, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Member removed.")
    return redirect("projects:settings", slug=slug)


@require_POST
@project_role_required(Role.MANAGER)
def member_deactivate(request, slug, membership_id):
    try:
        membership = services.member_deactivate(
            project=request.project, actor=request.user, membership_id=membership_id
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{membership.user.username}'s account is deactivated: they can no longer log in."
        )
    return redirect("projects:settings", slug=slug)
