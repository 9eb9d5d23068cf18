"""The audit log page (managers): who changed roles, invited, published, sent back, released."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_safe

from core.errors import ApplicationError
from core.models import AuditEntry
from core.pagination import page_get
from projects.access import project_role_required
from projects.models import Role
from projects.selectors import audit_log

PAGE_SIZE = 50


@require_safe
@project_role_required(Role.MANAGER)
def audit_log_page(request, slug):
    action = request.GET.get("action", "")
    actor = request.GET.get("actor", "")[:150]
    status, error = 200, ""
    try:
        rows = audit_log(project=request.project, action=action, actor=actor)
    except ApplicationError as exc:
        rows, status, error = AuditEntry.objects.none(), 400, exc.message
    page, page_message = page_get(Paginator(rows, PAGE_SIZE), request.GET.get("page"))
    context = {
        "project": request.project,
        "page": page,
        "actions": AuditEntry.Action.choices,
        "action": action,
        "actor": actor,
        "error": error,
        "page_message": page_message,
    }
    return render(request, "projects/audit.html", context, status=status)
