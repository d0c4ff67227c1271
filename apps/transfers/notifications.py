"""The e-mail a job's notificationEmail gets when it completes, is rejected or fails:
its status, reason and, for an export, its download links. Sent through Django's e-mail
framework (SMTP as the settings say; files in var/mail by default)."""

import logging
import smtplib

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.template.loader import render_to_string

from apps.transfers import links, services
from apps.transfers.models import TransferJob

logger = logging.getLogger(__name__)


def send(job_id: str) -> str:
    job = (
        TransferJob.objects.select_related("dataset")
        .prefetch_related("files")
        .filter(pk=job_id)
        .first()
    )
    if job is None or not job.notification_email:
        return "Nobody to tell."
    try:
        validate_email(job.notification_email)
    except ValidationError:
        services.job_notified(job=job, error="Not an e-mail address: nothing was sent.")
        return f"{job.notification_email!r} is not an e-mail address."
    context = {"job": job, "links": [(file, links.url_for(file)) for file in job.files.all()]}
    message = EmailMessage(
        subject=f"[Batchworks] {job.get_kind_display()} job {job.job_name!r}: {job.status}",
        body=render_to_string("transfers/notification.txt", context),
        to=[job.notification_email],
    )
    try:
        message.send()
    except (OSError, smtplib.SMTPException) as error:
        logger.warning(
            "Job %s: the notification to %s failed: %s", job.pk, job.notification_email, error
        )
        services.job_notified(job=job, error=f"{type(error).__name__}: {error}")
        raise  # the task fails, and says why
    services.job_notified(job=job)
    return f"Told {job.notification_email}."
