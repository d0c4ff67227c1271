"""The rules the layout rests on, checked on the code itself: state changes happen in
services, and every surface (the admin included) goes through them."""

import ast
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.test import RequestFactory

from apps.accounts.permissions import CHANGE_ROLES
from tests.factories import UserFactory

APPS = Path(__file__).resolve().parents[1] / "apps"
WRITES = {
    "save",
    "delete",
    "update",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
}
QUERYSET_STEPS = {"filter", "exclude", "all", "select_for_update", "select_related", "only"}
NOT_THE_DATABASE = {"default_storage", "storage", "super"}  # files, and a model's own save()
# Modules that write rows on purpose, each for its reason.
ALLOWED = {
    "core/leases.py": "the lease mechanism itself: services call it for claims and heartbeats",
    "core/handover.py": "django-tasks-db's task rows, which are the queue's, not the domain's",
    "demo/management/commands/demo.py": "demo data: runs that ended days ago, as no service "
    "makes them (their dates are moved into the past)",
}


def writes_outside_services() -> list[str]:
    found = []
    for path in sorted(APPS.rglob("*.py")):
        relative = path.relative_to(APPS).as_posix()
        if path.name in ("services.py", "models.py") or "/migrations/" in relative:
            continue
        if relative in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _writes_rows(node):
                found.append(f"{relative}:{node.lineno} .{node.func.attr}()")
    return found


def _writes_rows(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in WRITES:
        return False
    chain = _names_in(func.value)
    if chain & NOT_THE_DATABASE:
        return False
    if func.attr in ("save", "delete"):
        return True  # on a model instance, or a queryset
    return "objects" in chain or bool(chain & QUERYSET_STEPS) or func.attr != "update"


def _names_in(node) -> set[str]:
    """Every attribute, name and called method along an expression like a.b.filter(x).c."""
    names = set()
    while True:
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            names.add(node.id)
            return names
        else:
            return names


def test_rows_change_only_in_services():
    assert writes_outside_services() == []


def test_the_check_sees_writes_in_their_usual_shapes(tmp_path):
    samples = {
        "Plugin.objects.filter(pk=1).update(name='x')": True,
        "plugin.save(update_fields=['name'])": True,
        "configuration.delete()": True,
        "instance.events.create(action='x')": True,
        "flat.update(other)": False,
        "default_storage.save(name, content)": False,
        "super().save(*args, **kwargs)": False,
    }
    for code, writes in samples.items():
        call = ast.parse(code).body[0].value
        assert _writes_rows(call) == writes, code


def admins_of_domain_models():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.label_lower in CHANGE_ROLES
    ]


def _own(model_admin, method: str) -> bool:
    """Whether the admin class itself, not Django's ModelAdmin, defines `method`."""
    return getattr(type(model_admin), method) is not getattr(ModelAdmin, method)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "model_admin"),
    admins_of_domain_models(),
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_the_admin_saves_and_deletes_only_through_services(model, model_admin):
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_superuser=True)
    may_add = model_admin.has_add_permission(request)
    may_change = model_admin.has_change_permission(request, model())  # an object's form
    if may_add or may_change:
        assert _own(model_admin, "save_model"), f"{model.__name__}: saved without its service"
    if model_admin.has_delete_permission(request):
        assert model_admin.deletes, f"{model.__name__}: deleted without its service"
    editable_inlines = [
        inline
        for inline in model_admin.get_inline_instances(request)
        if inline.has_add_permission(request, None) or inline.has_change_permission(request)
    ]
    if editable_inlines and (may_add or may_change):
        assert _own(model_admin, "save_formset"), f"{model.__name__}: inlines saved directly"
