"""Admin building blocks: organisation scoping by role, cheap pagination, and actions that
go through services."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.utils.functional import cached_property

from apps.accounts.models import Role
from apps.accounts.permissions import change_role, view_role
from apps.accounts.selectors import roles_by_organisation
from apps.core.errors import TransitionError
from apps.core.models import OrganisationOwned


class CappedCountPaginator(Paginator):
    """Counts at most ADMIN_COUNT_LIMIT + 1 rows, so a page of a million-row table costs a
    bounded count; past the limit the admin says "more than N" (see admin/pagination.html)."""

    @cached_property
    def count(self):
        return self.object_list[: settings.ADMIN_COUNT_LIMIT + 1].count()

    @property
    def is_capped(self) -> bool:
        return self.count > settings.ADMIN_COUNT_LIMIT

    @property
    def limit(self) -> int:
        return settings.ADMIN_COUNT_LIMIT


class OrganisationScoping:
    """Staff users see the objects of their organisations where their role there allows it,
    and change them where it allows that (apps.accounts.permissions decides, as for the API
    and the console). Superusers run the installation and see everything."""

    def roles(self, request) -> dict[int, Role]:
        if not hasattr(request, "_organisation_roles"):
            request._organisation_roles = roles_by_organisation(request.user)
        return request._organisation_roles

    def organisation_ids(self, request, minimum: Role) -> list[int]:
        return [org for org, role in self.roles(request).items() if role.includes(minimum)]

    @property
    def governing_model(self):
        """The model whose roles apply: this admin's (an inline's parent, see below)."""
        return self.model

    def editable_organisation_ids(self, request) -> list[int]:
        return self.organisation_ids(request, change_role(self.governing_model))

    def viewable_organisation_ids(self, request) -> list[int]:
        return self.organisation_ids(request, view_role(self.governing_model))

    def can_view(self, request, obj) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return bool(self.viewable_organisation_ids(request))
        return obj.owner_organisation_id in self.viewable_organisation_ids(request)

    def can_edit(self, request, obj) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return bool(self.editable_organisation_ids(request))
        return obj.owner_organisation_id in self.editable_organisation_ids(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if not request.user.is_superuser and issubclass(related, OrganisationOwned):
            kwargs["queryset"] = related._default_manager.in_organisations(
                self.editable_organisation_ids(request)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrganisationScopedAdmin(OrganisationScoping, admin.ModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_list_filter(self, request):
        """A filter on a related object (an organisation, a plugin…) offers only those of the
        rows the user may see: Django's would list every organisation by name."""
        return [
            (name, admin.RelatedOnlyFieldListFilter)
            if isinstance(name, str) and get_fields_from_path(self.model, name)[-1].is_relation
            else name
            for name in super().get_list_filter(request)
        ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """A rule a service enforces past the form's own checks (a state that changed
        meanwhile, say) undoes the whole save and is shown, rather than failing the page."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (TransitionError, ValidationError) as error:
            self.message_user(request, f"Not saved — {_describe(error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        """A deletion its service refuses (the last admin, a version in use) is shown."""
        try:
            return super().delete_view(request, object_id, extra_context)
        except (TransitionError, ValidationError) as error:
            self.message_user(request, f"Not deleted — {_describe(error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.in_organisations(self.viewable_organisation_ids(request))

    def has_module_permission(self, request):
        return self.can_view(request, None)

    def has_view_permission(self, request, obj=None):
        return self.can_view(request, obj)

    def has_add_permission(self, request):
        return self.can_edit(request, None)

    def has_change_permission(self, request, obj=None):
        return self.can_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.deletes and self.can_edit(request, obj)

    @property
    def deletes(self) -> bool:
        """Whether this admin deletes objects: only through a service it names."""
        return type(self).delete_with_service is not OrganisationScopedAdmin.delete_with_service

    def delete_with_service(self, request, obj) -> None:
        """Delete `obj` through its app's service (an admin that deletes overrides this)."""
        raise NotImplementedError

    def delete_model(self, request, obj):
        self.delete_with_service(request, obj)

    def delete_queryset(self, request, queryset):
        self.apply_service(
            request, queryset, lambda obj: self.delete_with_service(request, obj), "Deleted"
        )

    def apply_service(self, request, queryset, service, done: str) -> None:
        """Run an admin action through its service, object by object: what the user may
        not change, or what its state refuses, is reported by name, not applied."""
        succeeded, refused = 0, []
        for obj in queryset:
            if not self.can_edit(request, obj):
                refused.append(f"{obj}: your role does not allow it")
                continue
            try:
                service(obj)
            except (TransitionError, ValidationError) as error:
                refused.append(f"{obj}: {_describe(error)}")
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, f"Refused — {reason}", messages.ERROR)


class ActedOnAdmin(OrganisationScopedAdmin):
    """An object that moves by itself and through its admin actions (each a service), never
    by editing: its page is read-only, and it is never deleted (it names no delete
    service), for its record is what happened."""

    def has_change_permission(self, request, obj=None):
        # Without an object, this says whether the list offers the actions.
        return False if obj else super().has_change_permission(request, obj)


def _describe(error: TransitionError | ValidationError) -> str:
    if isinstance(error, TransitionError):
        return error.message
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


class OrganisationScopedInline(OrganisationScoping):
    """For inlines, the parent object decides: its organisation and the user's role there."""

    @property
    def governing_model(self):
        return self.parent_model

    def has_view_permission(self, request, obj=None):
        return self.can_view(request, obj)

    def has_add_permission(self, request, obj=None):
        return self.can_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self.can_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.can_edit(request, obj)


class ReadOnlyInline(OrganisationScopedInline, admin.TabularInline):
    """A history shown under its object: never added to or changed by hand."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def saved_through_services(formset) -> None:
    """What the admin's change log reads from a formset (its new, changed and deleted rows),
    when a save_formset applied them through services instead of formset.save()."""
    formset.deleted_objects = [row.instance for row in formset.deleted_forms if row.instance.pk]
    kept = [row for row in formset.forms if row not in formset.deleted_forms and row.has_changed()]
    formset.new_objects = [row.instance for row in kept if row.instance._state.adding]
    formset.changed_objects = [
        (row.instance, row.changed_data) for row in kept if not row.instance._state.adding
    ]


def adopt_saved(obj, saved) -> None:
    """Make the admin's unsaved `obj` the row a service saved, so the admin's redirect and
    change log point at it."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db
