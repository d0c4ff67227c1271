"""An external feed that sends a segment's users to a partner as CSV, one identifier type
per request: lines are grouped by identifier type (the grouping_key), and each batch is one
POST of "operation,type,value" lines. With no partner_url it only logs what it would send."""

import urllib.error
import urllib.request

from batchworks_sdk import BatchedAudienceFeedPlugin


class SendSegmentToPartner(BatchedAudienceFeedPlugin):
    def on_external_segment_creation(self, request):
        return {"status": "ok", "message": f"Segment {request['segment_id']} ready."}

    def on_user_segment_update(self, request):
        lines = [
            {
                "data": f"{request['operation']},{identifier['type']},{identifier['value']}",
                "grouping_key": identifier["type"],
            }
            for identifier in request["user_identifiers"]
            if identifier.get("value")
        ]
        if not lines:
            return {"status": "no_eligible_identifier", "message": "No identifier has a value."}
        return {"status": "ok", "data": lines}

    def on_batch_update(self, request):
        lines = request["batch_content"]
        kind = request["context"]["grouping_key"]
        url = self.context.properties.get("partner_url")
        if not url:
            self.context.logger.info("would send %d %s lines: %s …", len(lines), kind, lines[0])
            return {"status": "OK", "send_items_in_success": len(lines), "send_items_in_error": 0}
        body = ("operation,type,value\n" + "\n".join(lines) + "\n").encode()
        post = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "text/csv",
                # The same batch is sent again after a crash: the partner can drop repeats.
                "Idempotency-Key": request["context"]["batch_id"],
            },
        )
        try:
            with urllib.request.urlopen(post, timeout=20) as response:
                response.read()
        except urllib.error.HTTPError as error:
            if error.code == 429 or error.code >= 500:  # busy or broken: try again later
                return {"status": "RETRY", "message": f"HTTP {error.code}"}
            return {"status": "ERROR", "message": f"HTTP {error.code}: {error.reason}"}
        except OSError as error:
            return {"status": "RETRY", "message": str(error)}
        return {"status": "OK", "send_items_in_success": len(lines), "send_items_in_error": 0}

    def on_troubleshoot(self, request):
        url = self.context.properties.get("partner_url")
        if not url:
            return {"status": "ok", "message": "No partner_url: batches are only logged."}
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return {"status": "ok", "message": f"{url} answers HTTP {response.status}."}
        except OSError as error:
            return {"status": "error", "message": f"{url}: {error}"}
