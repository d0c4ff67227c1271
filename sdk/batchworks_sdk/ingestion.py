"""Plugin code's client for this platform's batch ingestion API: create a batch for a
dataset, upload files (large ones in chunks), complete it. Batches it creates are linked
to the execution. Standard library only: plugin code needs nothing installed."""

import json
from pathlib import Path
from urllib.parse import quote

CHUNK_BYTES = 64 * 2**20
SMALL_FILE_BYTES = 512 * 2**20


class IngestionError(Exception):
    """The API refused a request: its status and what it said."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class PlatformApi:
    """This platform's API, called as the running execution."""

    def __init__(self, api_url: str, credential: str):
        self.api_url = api_url.rstrip("/")
        self.credential = credential

    def request(self, method: str, path: str, data=None, headers=None) -> bytes:
        # Imported on first use: urllib.request pulls in http.client, email and ssl, a third
        # of every run's start-up, and most runs never call the API.
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        request.add_header("Authorization", f"Execution {self.credential}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raise IngestionError(error.code, error.read().decode(errors="replace")) from None

    def _json(self, method: str, path: str, body: dict | list) -> dict:
        answer = self.request(
            method, path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        return json.loads(answer)


class Ingestion(PlatformApi):
    def create_batch(self, dataset_id, input_format: str | None = None) -> "Batch":
        body: dict[str, object] = {"datasetId": str(dataset_id)}
        if input_format:
            body["inputFormat"] = {"format": input_format}
        created = self._json("POST", "/v1/batches", body)
        return Batch(self, created["id"], str(dataset_id))


class Batch:
    def __init__(self, client: Ingestion, batch_id: str, dataset_id: str):
        self.client, self.id, self.dataset_id = client, batch_id, dataset_id

    def upload(self, source, name: str | None = None) -> None:
        """A file of the batch, from a path or bytes; over 512 MB, it goes in chunks."""
        if isinstance(source, bytes | bytearray):
            if not name:
                raise ValueError("Name an upload of bytes: name='orders.csv'.")
            self._send("PUT", name, bytes(source))
            return
        path = Path(source)
        name = name or path.name
        size = path.stat().st_size
        with path.open("rb") as stream:
            if size <= SMALL_FILE_BYTES:
                self._send("PUT", name, stream, {"Content-Length": str(size)})
            else:
                self._upload_in_chunks(name, stream, size)

    def _upload_in_chunks(self, name: str, stream, size: int) -> None:
        self._send("POST", name, b"", query="?action=initialize")
        start = 0
        while chunk := stream.read(CHUNK_BYTES):
            end = start + len(chunk) - 1
            self._send("PATCH", name, chunk, {"Content-Range": f"bytes {start}-{end}/{size}"})
            start = end + 1
        self._send("POST", name, b"", query="?action=COMPLETE")

    def complete(self) -> None:
        """Signal that every file is uploaded: the batch is then processed."""
        self.client.request("POST", f"/v1/batches/{self.id}?action=COMPLETE", b"")

    def abort(self) -> None:
        self.client.request("POST", f"/v1/batches/{self.id}?action=ABORT", b"")

    def status(self) -> dict:
        return json.loads(self.client.request("GET", f"/v1/batches/{self.id}"))

    def _send(self, method: str, name: str, data, headers=None, query: str = "") -> None:
        path = f"/v1/batches/{self.id}/datasets/{self.dataset_id}/files/{quote(name)}{query}"
        self.client.request(
            method, path, data, {"Content-Type": "application/octet-stream", **(headers or {})}
        )
