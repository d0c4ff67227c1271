"""Sending one alert to its channel: an e-mail through Django's e-mail framework, or a
webhook POST whose JSON body is signed with HMAC-SHA256 over the channel's secret:

    X-Batchworks-Timestamp: <Unix seconds>
    X-Batchworks-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>

A receiver recomputes the signature over the raw body and refuses a stale timestamp."""

import hashlib
import hmac
import ipaddress
import json
import smtplib
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from apps.alerts import services
from apps.alerts.models import Alert, BodyFormat, ChannelKind, DeliveryStatus
from apps.core import secrets
from apps.core.text import counted

USER_AGENT = "Batchworks-Alerts/1"


def deliver(alert_id: int) -> str:
    found = Alert.objects.select_related("channel", "instance", "execution").filter(pk=alert_id)
    alert = found.first()
    if alert is None or alert.status != DeliveryStatus.PENDING:
        return "Nothing to deliver."
    started, at = time.monotonic(), timezone.now()
    try:
        http_status = _send(alert)
        error = ""
    except Failed as failure:
        http_status, error = failure.http_status, str(failure)
    alert = services.delivery_attempted(
        alert=alert,
        at=at,
        error=error,
        http_status=http_status,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    return f"Alert {alert.pk}: {alert.status} after {counted(alert.attempts, 'attempt')}. {error}"


class Failed(Exception):
    def __init__(self, message: str, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


def _send(alert: Alert) -> int | None:
    """Send `alert`; returns the webhook's HTTP status (None for an e-mail)."""
    if alert.channel.kind == ChannelKind.EMAIL:
        _send_email(alert)
        return None
    return _send_webhook(alert)


def _send_email(alert: Alert) -> None:
    message = EmailMessage(
        subject=alert.subject, body=alert.message, to=alert.channel.recipient_list()
    )
    try:
        message.send()
    except (OSError, smtplib.SMTPException) as error:
        raise Failed(f"{type(error).__name__}: {error}") from None


def _send_webhook(alert: Alert) -> int:
    _refuse_link_local(alert.channel.url)
    body = json.dumps(body_of(alert), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        alert.channel.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Batchworks-Timestamp": timestamp,
            "X-Batchworks-Signature": "sha256=" + signature(alert, timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS) as r:
            return r.status
    except urllib.error.HTTPError as error:
        raise Failed(f"HTTP {error.code} {error.reason}", http_status=error.code) from None
    except (OSError, ValueError) as error:  # refused, timed out, no such host, bad URL
        raise Failed(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from None


def _refuse_link_local(url: str) -> None:
    """Never POST to a link-local address: on a cloud host that is the metadata service,
    which hands out the machine's credentials. (Private networks stay allowed: receivers
    of a self-hosted platform are often there.)"""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        raise Failed(f"{host} cannot be resolved: {error}") from None
    if any(ipaddress.ip_address(address.split("%")[0]).is_link_local for address in addresses):
        raise Failed(f"Refused: {host} is a link-local address (a cloud metadata service).")


def signature(alert: Alert, timestamp: str, body: bytes) -> str:
    key = secrets.unseal(alert.channel.signing_secret).encode()
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def body_of(alert: Alert) -> dict:
    if alert.channel.body_format == BodyFormat.SLACK:
        return {"text": f"*{alert.subject}*\n{alert.message}"}
    execution = alert.execution
    return {
        "alert": {
            "id": str(alert.pk),
            "kind": alert.kind,
            "subject": alert.subject,
            "message": alert.message,
            "created_at": int(alert.created_at.timestamp() * 1000),
            "failures": alert.failures,
        },
        "organisation_id": str(alert.organisation_id),
        "instance": alert.instance and {"id": str(alert.instance_id), "name": alert.instance.name},
        "execution": execution
        and {
            "id": str(execution.pk),
            "status": execution.status,
            "expected_start_date": int(execution.expected_start_date.timestamp() * 1000),
            "error": execution.error,
        },
    }
