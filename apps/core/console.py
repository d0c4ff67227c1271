"""The browser console's frame: which organisation a page shows, with what role.

A user works in one organisation at a time (kept in the session, switched from the
header); every console page is scoped to it, and the role there decides what the page
offers and what its actions allow."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from apps.accounts.models import Membership, Organisation, Role
from apps.core.pagination import Page
from apps.core.text import parse_int

SESSION_KEY = "organisation_id"


@dataclass(frozen=True)
class Workspace:
    organisation: Organisation
    role: Role
    choices: list[tuple[Organisation, Role]]  # every organisation the user may switch to

    @property
    def can_edit(self) -> bool:
        return self.role.includes(Role.EDITOR)


def workspace_of(request) -> Workspace | None:
    if not hasattr(request, "_workspace"):
        request._workspace = _resolve(request) if request.user.is_authenticated else None
    return request._workspace


def _resolve(request) -> Workspace | None:
    if request.user.is_superuser:
        choices = [
            (organisation, Role.ADMIN) for organisation in Organisation.objects.order_by("name")
        ]
    else:
        memberships = Membership.objects.filter(user=request.user).select_related("organisation")
        choices = [
            (m.organisation, Role(m.role)) for m in memberships.order_by("organisation__name")
        ]
    if not choices:
        return None
    chosen = request.session.get(SESSION_KEY)
    organisation, role = next(((o, r) for o, r in choices if o.pk == chosen), choices[0])
    return Workspace(organisation=organisation, role=role, choices=choices)


def workspace_context(request) -> dict:
    """`poll` is the hx-trigger of a page's live parts: every few seconds while the tab is
    in sight and no confirmation is open (mayRefresh, in static/js/console.js)."""
    return {
        "ws": workspace_of(request),
        "poll": f"every {settings.CONSOLE_POLL_SECONDS}s [mayRefresh()]",
    }


def console_view(minimum: Role = Role.READER):
    """A console page: logged in, in an organisation, with at least `minimum` there. The
    view gets the Workspace as its second argument."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            ws = workspace_of(request)
            if ws is None:
                return render(request, "core/no_organisation.html", status=403)
            if not ws.role.includes(minimum):
                raise PermissionDenied(
                    f"Your role in {ws.organisation} is {ws.role}; this needs {minimum}."
                )
            return view(request, ws, *args, **kwargs)

        return wrapped

    return decorate


def render_list(request, template: str, context: dict):
    """A filtered list page, or only its #results partial when htmx swaps the results.
    `query` is the filters without the page cursor, for the pager's links."""
    query = request.GET.copy()
    query.pop("before", None)
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, {**context, "query": query.urlencode()})


def filtered_page(form, page_of) -> Page:
    """The page `page_of(filters)` lists, or nothing when a filter is wrong: the form says
    which and why, and every row unfiltered would look like the filter's answer."""
    if not form.is_bound:
        return page_of({})
    return page_of(form.cleaned_data) if form.is_valid() else Page(rows=[], next_cursor=None)


def added_formset_row(request, formset_class, prefix: str):
    """The row an "Add" button asks for: the formset's empty form numbered by the
    request's `index` (at most max_num), and the index of the row after it."""
    index = min(parse_int(request.GET.get("index", "")) or 0, formset_class.max_num)
    row = formset_class(prefix=prefix).empty_form
    row.prefix = f"{prefix}-{index}"
    return row, index + 1


def show_refusal(form, errors: Mapping[str, list[str]]) -> None:
    """A service's refusal ({field: messages}) on the form's fields it names; the rest
    above the form."""
    for name, messages in errors.items():
        form.add_error(name if name in form.fields else None, messages)
