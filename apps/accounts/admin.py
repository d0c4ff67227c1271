from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from apps.accounts.models import ApiToken, Membership, Organisation
from apps.accounts.services import (
    RETENTION_DEFAULTS,
    api_token_create,
    api_token_revoke,
    membership_add,
    membership_remove,
    membership_set_role,
    organisation_create,
    organisation_delete,
    organisation_rename,
    organisation_set_retention,
    validate_token_owner,
)
from apps.core.admin import OrganisationScopedAdmin, adopt_saved

admin.site.site_header = "Batchworks administration"
admin.site.site_title = "Batchworks"


@admin.register(Organisation)
class OrganisationAdmin(OrganisationScopedAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    fields = ["name", *RETENTION_DEFAULTS]

    def save_model(self, request, obj, form, change):
        if change:
            obj.refresh_from_db()
            if "name" in form.changed_data:
                organisation_rename(organisation=obj, name=form.cleaned_data["name"])
        else:
            adopt_saved(obj, organisation_create(name=form.cleaned_data["name"]))
        retention = {name: form.cleaned_data[name] for name in RETENTION_DEFAULTS}
        organisation_set_retention(organisation=obj, **retention)

    def delete_with_service(self, request, obj):
        organisation_delete(organisation=obj)


class UserByUsernameForm(forms.ModelForm):
    """Names an existing user by username: a select of every user would list the people of
    every organisation to anyone who can add a member."""

    username = forms.CharField(help_text="The username of an existing user.")

    def clean_username(self):
        username = self.cleaned_data["username"]
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise forms.ValidationError("No user has this username.") from None


class MembershipForm(UserByUsernameForm):
    class Meta:
        model = Membership
        fields = ["organisation", "role"]

    def clean(self):
        cleaned = super().clean()
        user, organisation = cleaned.get("username"), cleaned.get("organisation")
        if user and organisation:
            self.instance.user = user
            duplicate = Membership.objects.filter(user=user, organisation=organisation)
            if duplicate.exclude(pk=self.instance.pk).exists():
                self.add_error("username", f"{user} is already a member of {organisation}.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(OrganisationScopedAdmin):
    form = MembershipForm
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", "organisation"]
    list_select_related = ["user", "organisation"]
    search_fields = ["user__username", "user__email", "organisation__name"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "organisation"] if obj else []

    def get_fields(self, request, obj=None):
        return ["user", "organisation", "role"] if obj else ["username", "organisation", "role"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj:  # the member is fixed once added: only the role changes
            return forms.modelform_factory(Membership, fields=["role"])
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        """Through the services, which keep each organisation's last admin."""
        if change:
            obj.refresh_from_db()
            membership_set_role(membership=obj, role=form.cleaned_data["role"])
            return
        adopt_saved(
            obj,
            membership_add(
                organisation=form.cleaned_data["organisation"],
                user=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            ),
        )

    def delete_with_service(self, request, obj):
        membership_remove(membership=obj)


class ApiTokenForm(UserByUsernameForm):
    class Meta:
        model = ApiToken
        fields = ["organisation", "name"]

    def clean(self):
        cleaned = super().clean()
        user, organisation = cleaned.get("username"), cleaned.get("organisation")
        if user and organisation:
            try:
                validate_token_owner(organisation=organisation, user=user)
            except ValidationError as error:
                self.add_error("username", error.message_dict["user"])
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(OrganisationScopedAdmin):
    form = ApiTokenForm
    list_display = [
        "name",
        "prefix",
        "user",
        "organisation",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["organisation", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user", "organisation"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = [
        "name",
        "prefix",
        "user",
        "organisation",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else ["organisation", "username", "name"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the audit trail keeps them

    def save_model(self, request, obj, form, change):
        token, raw_token = api_token_create(
            organisation=form.cleaned_data["organisation"],
            user=form.cleaned_data["username"],
            name=form.cleaned_data["name"],
        )
        adopt_saved(obj, token)
        messages.warning(
            request, f"The new token is {raw_token} — copy it now: it will not be shown again."
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        self.apply_service(
            request, queryset, lambda token: api_token_revoke(token=token), "Revoked tokens"
        )
