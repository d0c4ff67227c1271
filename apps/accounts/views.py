from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
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
