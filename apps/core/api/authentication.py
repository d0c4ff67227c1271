from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.services import api_token_authenticate


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: <token>`, as the public API docs send it, or `Bearer <token>`."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "").strip()
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        raw_token = rest.strip() if scheme.lower() == "bearer" else header
        token = api_token_authenticate(raw_token)
        if token is None:
            raise AuthenticationFailed(
                "This API token is not valid (unknown, revoked, or its user left)."
            )
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="batchworks"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API token, alone or after `Bearer `.",
        }
