from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.accounts.forms import RetentionForm
from apps.accounts.models import Organisation
from apps.accounts.permissions import change_role
from apps.accounts.services import organisation_set_retention
from apps.core.console import SESSION_KEY, console_view, show_refusal, workspace_of


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


@require_http_methods(["GET", "POST"])
@console_view(change_role(Organisation))
def organisation_settings(request, ws):
    """The organisation's retention (admins): what the hourly clean-up removes."""
    organisation = Organisation.objects.get(pk=ws.organisation.pk)
    form = RetentionForm(request.POST or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        try:
            organisation_set_retention(
                organisation=Organisation.objects.get(pk=organisation.pk), **form.cleaned_data
            )
        except ValidationError as refusal:
            show_refusal(form, refusal.message_dict)
        else:
            messages.success(request, "Retention saved: the next hourly clean-up applies it.")
            return redirect("organisation_settings")
    return render(
        request,
        "accounts/organisation_settings.html",
        {"section": "settings", "form": form},
        status=400 if form.errors else 200,
    )
