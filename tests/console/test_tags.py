"""The console's own template tags, against what Django's would give."""

import pytest
from django.template import engines
from django.urls import clear_script_prefix, reverse, set_script_prefix


def rendered(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


@pytest.mark.parametrize(
    ("view_name", "list_name"),
    [
        ("instance", "instances"),
        ("execution", "executions"),
        ("plugin", "plugins"),
        ("dataset", "datasets"),
        ("batch", "batches"),
    ],
)
def test_route_links_where_url_does_under_any_script_prefix(view_name, list_name):
    for prefix in ("/", "/batchworks/"):
        set_script_prefix(prefix)
        try:
            by_id, listed = reverse(view_name, args=[987]), reverse(list_name)
            assert by_id.startswith(prefix) and listed.startswith(prefix)
            assert rendered("{% route name pk %}", name=view_name, pk=987) == by_id
            assert rendered("{% route name %}", name=list_name) == listed
        finally:
            clear_script_prefix()
