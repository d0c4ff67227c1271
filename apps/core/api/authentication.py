from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.services import api_token_authenticate
from apps.runner.credentials import running_execution


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


class ExecutionCredentialAuthentication(BaseAuthentication):
    """`Authorization: Execution <credential>`: plugin code calling the ingestion API for
    its running execution. Only the ingestion endpoints accept it."""

    keyword = "execution"

    def authenticate(self, request):
        scheme, _, credential = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        if scheme.lower() != self.keyword:
            return None
        caller = running_execution(credential.strip())
        if caller is None:
            raise AuthenticationFailed(
                "This execution credential is not valid, or the run has ended."
            )
        return caller.execution.user or ExecutionUser(caller.execution.pk), caller

    def authenticate_header(self, request):
        return 'Bearer realm="batchworks"'


@dataclass(frozen=True)
class ExecutionUser:
    """The caller of a run that no person triggered (a CRON run)."""

    execution_id: int
    is_authenticated = True
    is_active = True
    is_superuser = False
    pk = None

    def __str__(self):
        return f"execution {self.execution_id}"


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


class ExecutionCredentialScheme(OpenApiAuthenticationExtension):
    target_class = ExecutionCredentialAuthentication
    name = "executionCredential"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Execution <credential>`: given to plugin code by the runner.",
        }
