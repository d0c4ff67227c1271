"""Jobs in the Django admin: listed by organisation, canceled only through the service."""

import pytest

from apps.transfers import services
from apps.transfers.models import TransferJob
from tests.transfers.conftest import upload

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/transfers/transferjob/"


def submitted(dataset):
    return services.import_submit(
        dataset=dataset,
        upload=upload(b"email\na@example.com\n"),
        job_name="x",
        content_type="text/csv",
    )


def test_the_cancel_action_cancels_through_the_service_in_ones_own_organisation(
    client, world, attendees
):
    from apps.ingestion.services import dataset_create
    from tests.transfers.conftest import SCHEMA

    mine = submitted(attendees)
    theirs = submitted(dataset_create(organisation=world.org_b, name="B", schema=SCHEMA))
    client.force_login(world.editor_a)
    listed = client.get(CHANGELIST).context["cl"].result_list
    assert list(listed) == [mine]
    client.post(CHANGELIST, {"action": "cancel", "_selected_action": [mine.pk, theirs.pk]})
    assert TransferJob.objects.get(pk=mine.pk).status == "Canceled"
    assert TransferJob.objects.get(pk=theirs.pk).status == "Accepted"
    assert mine.status_changes.last().user == world.editor_a
    assert client.get(f"{CHANGELIST}{mine.pk}/change/").status_code == 200  # to read
    assert client.get(f"{CHANGELIST}add/").status_code == 403
