"""/v1/organisations and, for their admins, members and API tokens."""

from typing import cast

from django.contrib.auth import get_user_model
from django.db.models import Field
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from apps.accounts.models import ApiToken, Membership, Organisation, Role
from apps.accounts.permissions import change_role, view_role
from apps.accounts.services import (
    RETENTION_DEFAULTS,
    api_token_create,
    api_token_revoke,
    membership_add,
    membership_remove,
    membership_set_role,
    organisation_set_retention,
)
from apps.core.api.access import Access
from apps.core.api.errors import MissingReference
from apps.core.api.fields import EpochMillisField, IdField, IdInputField, StrictSerializer
from apps.core.api.inputs import as_id, by_id, valid
from apps.core.api.responses import PageParameters, envelope, ok, page

# --- Organisations -------------------------------------------------------------------------


def _retention(name: str, help_text: str):
    """An organisation's retention setting, with the model field's own bounds."""
    validators = cast(Field, Organisation._meta.get_field(name)).validators
    return serializers.IntegerField(
        required=False, allow_null=True, validators=validators, help_text=help_text
    )


class RetentionSerializer(StrictSerializer):
    keep_executions_days = _retention(
        "keep_executions_days", "Delete finished executions after this many days; null: never."
    )
    keep_last_runs = _retention(
        "keep_last_runs", "Keep only this many latest finished executions per instance; null: all."
    )
    keep_logs_days = _retention(
        "keep_logs_days", "Drop logs this many days after their run ended; null: never."
    )
    keep_data_days = _retention(
        "keep_data_days", "Remove batches' data and jobs' files after this many days; null: never."
    )


class OrganisationSerializer(serializers.Serializer):
    id = IdField(source="pk")
    name = serializers.CharField()
    created_at = EpochMillisField()
    role = serializers.SerializerMethodField()
    retention = serializers.SerializerMethodField(
        help_text="Defaults for its instances (theirs win), and its data's."
    )

    @extend_schema_field(RetentionSerializer)
    def get_retention(self, organisation) -> dict:
        return {name: getattr(organisation, name) for name in RETENTION_DEFAULTS}

    def get_role(self, organisation) -> str:
        return self.context["access"].role_in(organisation.pk)


class OrganisationListView(APIView):
    @extend_schema(
        operation_id="organisations_list",
        parameters=[PageParameters],
        responses=envelope(OrganisationSerializer, many=True),
    )
    def get(self, request):
        """The organisations you belong to (a token: its own), with your role in each."""
        access = Access.of(request)
        params = valid(PageParameters, request.query_params)
        return page(
            access.scoped(Organisation.objects.order_by("name")),
            OrganisationSerializer,
            params,
            context={"access": access},
        )


class OrganisationDetailView(APIView):
    @extend_schema(responses=envelope(OrganisationSerializer))
    def get(self, request, organisation_id):
        access = Access.of(request)
        organisation = access.get(Organisation.objects.all(), organisation_id)
        return ok(OrganisationSerializer(organisation, context={"access": access}).data)

    @extend_schema(request=RetentionSerializer, responses=envelope(OrganisationSerializer))
    def put(self, request, organisation_id):
        """Set the organisation's retention (admins): the fields sent change. A clean-up
        job applies it every hour, in bounded chunks; the dashboard shows what it removed."""
        access = Access.of(request)
        organisation = access.get(
            Organisation.objects.all(), organisation_id, change_role(Organisation)
        )
        data = valid(RetentionSerializer, request.data, partial=True)
        organisation_set_retention(organisation=organisation, **data)
        return ok(OrganisationSerializer(organisation, context={"access": access}).data)

    patch = put


# --- Members -------------------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    user_id = IdField()
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = EpochMillisField()


class MemberCreateSerializer(StrictSerializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class MemberUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberListView(APIView):
    @extend_schema(
        operation_id="organisations_members_list",
        parameters=[PageParameters],
        responses=envelope(MemberSerializer, many=True),
    )
    def get(self, request, organisation_id):
        """The organisation's members and their roles."""
        organisation = _organisation(request, organisation_id, Role.READER)
        params = valid(PageParameters, request.query_params)
        members = organisation.memberships.select_related("user").order_by("user__username")
        return page(members, MemberSerializer, params)

    @extend_schema(request=MemberCreateSerializer, responses={201: envelope(MemberSerializer)})
    def post(self, request, organisation_id):
        """Add an existing user to the organisation (admins)."""
        organisation = _organisation(request, organisation_id, change_role(Membership))
        data = valid(MemberCreateSerializer, request.data)
        user = get_user_model().objects.filter(username=data["username"]).first()
        if user is None:
            raise MissingReference("username", "No user has this username.")
        membership = membership_add(organisation=organisation, user=user, role=data["role"])
        return ok(MemberSerializer(membership).data, status=201)


class MemberDetailView(APIView):
    @extend_schema(request=MemberUpdateSerializer, responses=envelope(MemberSerializer))
    def put(self, request, organisation_id, user_id):
        """Change a member's role (admins). The last admin stays admin."""
        membership = _membership(request, organisation_id, user_id)
        data = valid(MemberUpdateSerializer, request.data)
        return ok(
            MemberSerializer(membership_set_role(membership=membership, role=data["role"])).data
        )

    @extend_schema(responses={200: envelope(MemberSerializer)})
    def delete(self, request, organisation_id, user_id):
        """Remove a member (admins); their tokens for this organisation stop working.
        Answers the membership as it was."""
        membership = _membership(request, organisation_id, user_id)
        removed = MemberSerializer(membership).data
        membership_remove(membership=membership)
        return ok(removed)


# --- API tokens ----------------------------------------------------------------------------


class ApiTokenSerializer(serializers.Serializer):
    id = IdField(source="pk")
    name = serializers.CharField()
    prefix = serializers.CharField()
    user_id = IdField()
    organisation_id = IdField()
    created_at = EpochMillisField()
    last_used_at = EpochMillisField(allow_null=True)
    revoked_at = EpochMillisField(allow_null=True)


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The secret: shown in this answer only.")


class ApiTokenCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    user_id = IdInputField(required=False, help_text="A member; by default, you.")


class ApiTokenListView(APIView):
    @extend_schema(
        operation_id="organisations_api_tokens_list",
        parameters=[PageParameters],
        responses=envelope(ApiTokenSerializer, many=True),
    )
    def get(self, request, organisation_id):
        """The organisation's API tokens, revoked ones included (admins)."""
        organisation = _organisation(request, organisation_id, view_role(ApiToken))
        params = valid(PageParameters, request.query_params)
        return page(ApiToken.objects.filter(organisation=organisation), ApiTokenSerializer, params)

    @extend_schema(
        request=ApiTokenCreateSerializer, responses={201: envelope(NewApiTokenSerializer)}
    )
    def post(self, request, organisation_id):
        """Issue a token for a member (admins). Its secret is in this answer only."""
        organisation = _organisation(request, organisation_id, change_role(ApiToken))
        data = valid(ApiTokenCreateSerializer, request.data)
        user = request.user
        if "user_id" in data:
            member = organisation.memberships.filter(user_id=as_id(data["user_id"])).first()
            if member is None:
                raise MissingReference("user_id", "Not a member of this organisation.")
            user = member.user
        token, raw_token = api_token_create(organisation=organisation, user=user, name=data["name"])
        token.token = raw_token
        return ok(NewApiTokenSerializer(token).data, status=201)


class ApiTokenDetailView(APIView):
    @extend_schema(responses={200: envelope(ApiTokenSerializer)})
    def delete(self, request, organisation_id, token_id):
        """Revoke a token (admins). It stays listed, revoked."""
        organisation = _organisation(request, organisation_id, change_role(ApiToken))
        token = by_id(organisation.api_tokens.all(), token_id).first()
        if token is None:
            raise NotFound()
        return ok(ApiTokenSerializer(api_token_revoke(token=token)).data)


def _organisation(request, organisation_id, minimum: Role) -> Organisation:
    return Access.of(request).get(Organisation.objects.all(), organisation_id, minimum)


def _membership(request, organisation_id, user_id) -> Membership:
    organisation = _organisation(request, organisation_id, change_role(Membership))
    members = organisation.memberships.select_related("user", "organisation")
    membership = by_id(members, user_id, "user_id").first()
    if membership is None:
        raise NotFound()
    return membership
