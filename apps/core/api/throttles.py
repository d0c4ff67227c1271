"""How often a caller may call the API: per API token (or person, or running execution —
plugin code through the SDK is counted like anyone), counted in the shared cache (Redis
when configured) so that every web process counts together. A refusal is a 429 with
Retry-After and the limit in words."""

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle


class CallerRateThrottle(SimpleRateThrottle):
    """Every API call: BATCHWORKS_API_RATE per caller."""

    scope = "api"
    what = "requests"
    setting = "API_RATE"

    def get_rate(self):
        return getattr(settings, self.setting)  # read per request: settings may change

    def get_cache_key(self, request, view):
        auth = request.auth
        if hasattr(auth, "execution"):  # plugin code with its run's credential
            who = f"execution-{auth.execution.pk}"
        elif getattr(auth, "pk", None):  # an API token
            who = f"token-{auth.pk}"
        elif request.user and request.user.is_authenticated:
            who = f"user-{request.user.pk}"
        else:
            who = f"address-{self.get_ident(request)}"
        return f"throttle:{self.scope}:{who}"

    def allow_request(self, request, view):
        if super().allow_request(request, view):
            return True
        wait = self.wait() or 1
        refusal = Throttled(
            detail=(
                f"Too many {self.what}: at most {self.num_requests} {self.what} every "
                f"{_duration(self.duration)} for each caller. Try again in {max(1, round(wait))} s."
            )
        )
        refusal.wait = wait  # set after: DRF would add its own sentence about it
        raise refusal


class BatchCreationThrottle(CallerRateThrottle):
    """Creating batches (POST /v1/batches): the ingestion docs' own 2,000 a minute per
    user, BATCHWORKS_BATCH_CREATION_RATE."""

    scope = "batch-creations"
    what = "batch creations"
    setting = "BATCH_CREATION_RATE"

    def allow_request(self, request, view):
        return request.method != "POST" or super().allow_request(request, view)


def _duration(seconds: int) -> str:
    return {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(seconds, f"{seconds} s")
