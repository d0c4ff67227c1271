from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.core.console import SESSION_KEY, workspace_of


@require_POST
@login_required
def switch_organisation(request):
    """Work in another of your organisations: every page then shows that one."""
    ws = workspace_of(request)
    wanted = request.POST.get("organisation_id", "")
    if ws and any(str(organisation.pk) == wanted for organisation, _ in ws.choices):
        request.session[SESSION_KEY] = int(wanted)
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect("dashboard")


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a login after too many failed ones: 429, when to try again
    (Retry-After), and the limit in words."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = render(
        request,
        "registration/locked_out.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
