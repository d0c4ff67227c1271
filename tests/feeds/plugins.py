"""Real feed plugins for the tests, each with a behaviour a test watches."""

GROUPS_BY_TYPE = b'''
import json, os, time, urllib.request
from batchworks_sdk import BatchedAudienceFeedPlugin


class GroupByType(BatchedAudienceFeedPlugin):
    """One line per identifier, grouped by identifier type; a batch goes to the receiver."""

    def on_user_segment_update(self, request):
        ids = request["user_identifiers"]
        if any(i.get("type") == "BROKEN" for i in ids):
            raise ValueError("cannot read this identifier")
        if any(i.get("type") == "NUL" for i in ids):
            return {"status": "ok", "data": [{"data": "a\\x00b", "grouping_key": "NUL"}]}
        if not ids or all(i.get("type") == "NONE" for i in ids):
            return {"status": "no_eligible_identifier"}
        return {"status": "ok", "data": [
            {"data": f"{request['operation']},{i['type']},{i['value']}", "grouping_key": i["type"]}
            for i in ids
        ]}

    def on_batch_update(self, request):
        receiver = self.context.properties.get("receiver")
        body = json.dumps({"context": request["context"], "lines": request["batch_content"]})
        with urllib.request.urlopen(urllib.request.Request(
            receiver, data=body.encode(), headers={"Content-Type": "application/json"}
        ), timeout=60) as response:
            answer = json.loads(response.read() or b"{}")
        print(f"sent {len(request['batch_content'])} lines of {request['context']['grouping_key']}")
        return {
            "status": answer.get("status", "OK"),
            "message": answer.get("message"),
            "next_msg_delay_in_ms": answer.get("next_msg_delay_in_ms"),
            "send_items_in_success": len(request["batch_content"]),
            "send_items_in_error": 0,
        }

    def on_troubleshoot(self, request):
        return {"status": "ok", "message": "receiver reachable", "data": {"pid": os.getpid()}}
'''

UNBATCHED = b"""
from batchworks_sdk import AudienceFeedPlugin


class Unbatched(AudienceFeedPlugin):
    seen = 0

    def on_user_segment_update(self, request):
        self.seen += 1
        value = request["user_identifiers"][0]["value"]
        if value == "retry" and self.seen < 3:
            return {"status": "retry", "message": "partner busy", "next_msg_delay_in_ms": 10}
        if value == "fail":
            return {"status": "error", "message": "partner refused " + value}
        if value == "hang":
            import time
            time.sleep(600)
        if value == "die":
            import os
            os._exit(3)
        if value == "shape":
            return ["not", "an", "object"]
        print(f"update {self.seen}: {value}")
        return {"status": "ok"}
"""

NOT_READY_ONCE = b"""
from batchworks_sdk import AudienceFeedPlugin


class NotReadyOnce(AudienceFeedPlugin):
    asked = 0

    def on_external_segment_creation(self, request):
        self.asked += 1
        if self.asked == 1:
            return {"status": "external_segment_not_ready_yet", "message": "warming up"}
        return {"status": "ok", "message": f"created {request['segment_id']}"}

    def on_external_segment_connection(self, request):
        return {"status": "error", "message": "bad credentials"}

    def on_user_segment_update(self, request):
        return {"status": "ok"}
"""
