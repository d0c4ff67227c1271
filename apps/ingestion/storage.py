"""Files of batches in the Django storage: written as they stream in, never held whole in
memory, and bounded as they are written."""

import io
import os
import uuid

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

READ_SIZE = 1 << 20  # 1 MiB at a time


class TooLarge(Exception):
    """More bytes arrived than allowed: says the limit, in words."""


class BoundedStream(io.RawIOBase):
    """Reads a request body (or any stream) a piece at a time, counting, and refusing to
    go past `limit` bytes; `on_read` is called after each piece (an upload's heartbeat)."""

    def __init__(self, source, limit: int, too_large: str, on_read=lambda: None):
        self.source, self.limit, self.too_large, self.on_read = source, limit, too_large, on_read
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        wanted = READ_SIZE if size is None or size < 0 else size
        gathered = bytearray()
        while len(gathered) < wanted and (piece := self.source.read(wanted - len(gathered))):
            gathered += piece  # all that was asked for, as object storage's uploader expects
        data = bytes(gathered)
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(self.too_large)
        self.on_read()
        return data


def unique_name(folder: str, stem: str) -> str:
    """A storage name no other upload takes, so a partial write is ours alone to remove."""
    return f"{folder}/{stem}-{uuid.uuid4().hex}"


def save_stream(name: str, stream: BoundedStream) -> str:
    """Store what the stream gives under `name` (from unique_name); nothing is kept if it
    breaks its limit (file storage writes as it goes, so the partial file is removed)."""
    try:
        return default_storage.save(name, File(stream, name=name))  # type: ignore[arg-type]
    except TooLarge:
        if default_storage.exists(name):
            default_storage.delete(name)
        raise


class Concatenation(io.RawIOBase):
    """Stored pieces read one after the other, as one stream. A read returns all it was
    asked for unless the last piece has ended: object storage's uploader takes a short
    read for the end of the file."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.current: File | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = READ_SIZE if size is None or size < 0 else size
        data = bytearray()
        while len(data) < size:
            if self.current is None:
                if not self.names:
                    break
                self.current = default_storage.open(self.names.pop(0), "rb")
            if piece := self.current.read(size - len(data)):
                data += piece
            else:
                self.current.close()
                self.current = None
        return bytes(data)


def concatenate(name: str, pieces: list[str]) -> str:
    """Store `pieces` joined into one file, streamed through."""
    return default_storage.save(name, File(Concatenation(pieces), name=name))  # type: ignore[arg-type]


def copy_stored(source: str, name: str) -> str:
    """`source`'s bytes stored again under `name` (from unique_name): in a local folder a
    hard link, as stored files are never changed, only removed (and removing one name
    keeps the other's); elsewhere, or across file systems, a copy streamed through."""
    if not settings.S3_BUCKET:
        target = default_storage.path(name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(default_storage.path(source), target)
            return name
        except OSError:
            pass  # a file system without hard links: copied below
    with default_storage.open(source, "rb") as original:
        return default_storage.save(name, original)


def delete_all(names) -> None:
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)
