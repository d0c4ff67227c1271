from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.console import console_view
from apps.search.selectors import quick_search


@require_GET
@console_view()
def search(request, ws):
    """The header's search box asks for the results alone; without htmx, a page of them."""
    text = request.GET.get("q", "")
    context = {"found": quick_search(ws.organisation, text), "text": text}
    template = "search/results.html" if request.htmx else "search/page.html"
    return render(request, template, context)
