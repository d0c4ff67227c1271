"""The console's own template tags, against what Django's would give."""

import pytest
from django.template import engines
from django.urls import clear_script_prefix, reverse, set_script_prefix


def rendered(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


@pytest.mark.parametrize("view_name", ["instance", "execution", "plugin", "dataset", "batch"])
def test_pk_url_links_where_url_does_under_any_script_prefix(view_name):
    for prefix in ("/", "/batchworks/"):
        set_script_prefix(prefix)
        try:
            expected = reverse(view_name, args=[987])
            assert expected.startswith(prefix)
            assert rendered("{% pk_url name pk %}", name=view_name, pk=987) == expected
        finally:
            clear_script_prefix()
