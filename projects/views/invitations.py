"""Invitations: managers send and withdraw them from the settings page; the invited person opens
the link (no login needed to read it) and accepts as their account, or makes one."""

from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError
from core.sessions import LOGIN_BACKEND
from projects.access import project_role_required
from projects.forms import InvitationAccountForm, InvitationForm
from projects.models import Role
from projects.services import invitations as services


@require_POST
@project_role_required(Role.MANAGER)
def invitation_send(request, slug):
    form = InvitationForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{form.fields[f].label or f}: {' '.join(e)}" for f, e in form.errors.items())
        messages.error(request, f"No invitation was sent. {problems}")
        return redirect(reverse("projects:settings", args=[slug]) + "#members")
    try:
        invitation = services.invitation_create(
            project=request.project,
            actor=request.user,
            site_url=request.build_absolute_uri("/"),
            **form.cleaned_data,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Invitation sent to {invitation.email} ({invitation.get_role_display().lower()})."
        )
    return redirect(reverse("projects:settings", args=[slug]) + "#members")


@require_POST
@project_role_required(Role.MANAGER)
def invitation_revoke(request, slug, invitation_id):
    try:
        invitation = services.invitation_revoke(
            project=request.project, actor=request.user, invitation_id=invitation_id
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"The invitation of {invitation.email} was withdrawn; its link no longer works."
        )
    return redirect(reverse("projects:settings", args=[slug]) + "#members")


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """GET shows the invitation (or why the link cannot be used); POST accepts it as the signed-in
    account, or, signed out, makes an account with the invited address."""
    try:
        invitation = services.invitation_check(token=token)
    except ApplicationError as exc:
        return render(request, "projects/invitation.html", {"refused": exc.message}, status=400)
    holder = services.invitation_account(invitation=invitation)
    form = InvitationAccountForm(request.POST or None)
    context = {"invitation": invitation, "holder": holder, "form": form, "token": token}
    if request.method == "GET":
        return render(request, "projects/invitation.html", context)
    try:
        if request.user.is_authenticated:
            membership = services.invitation_accept(token=token, user=request.user)
        elif form.is_valid():
            membership = services.invitation_accept_new_account(token=token, **form.cleaned_data)
            login(request, membership.user, backend=LOGIN_BACKEND)
        else:
            return render(request, "projects/invitation.html", context, status=400)
    except services.InvitationRefused as exc:
        return render(request, "projects/invitation.html", {**context, "refused": exc.message}, status=400)
    except ApplicationError as exc:
        for field, errors in exc.extra.items():
            form.add_error(field if field in form.fields else None, errors)
        if not exc.extra:
            form.add_error(None, exc.message)
        return render(request, "projects/invitation.html", context, status=400)
    messages.success(
        request, f"Welcome to {membership.project.name}: you are {membership.get_role_display().lower()}."
    )
    return redirect("projects:detail", slug=membership.project.slug)
