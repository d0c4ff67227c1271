"""Download links of an export's files: signed, so they name one file of one organisation
and cannot be altered to name another; valid until the job's links expire (a week after
it completed), then 410 Gone. A link is the permission itself, as an e-mailed link must
be: whoever holds it can download that file until then."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from apps.transfers.models import TransferFile

SALT = "batchworks.transfers.download"


def token_for(file: TransferFile) -> str:
    return signing.dumps([file.pk, file.job.organisation_id], salt=SALT, compress=True)


def file_for(token: str) -> TransferFile | None:
    """The file a token names, or None if it was not signed by us (or names nothing)."""
    try:
        file_id, organisation_id = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return (
        TransferFile.objects.select_related("job")
        .filter(pk=file_id, job__organisation_id=organisation_id)
        .first()
    )


def url_for(file: TransferFile, request=None) -> str:
    path = reverse("transfers:download", args=[token_for(file)])
    if request is not None:
        return request.build_absolute_uri(path)
    return settings.BATCHWORKS_PUBLIC_URL.rstrip("/") + path
