"""TensorBoard event files without TensorFlow: TFRecord framing of `Event` protos, written and read.

A record is: uint64 length, uint32 masked CRC-32C of the length, the bytes, uint32 masked CRC-32C
of the bytes (little-endian). tensorboard's own writer computes CRC-32C in pure Python (slow for
images) and its reader imports TensorFlow when it is installed; google-crc32c is C.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path
from typing import Iterator

import google_crc32c
from tensorboard.compat.proto import event_pb2, summary_pb2

_counter = 0


def masked_crc32c(data: bytes) -> int:
    """The CRC-32C of `data`, masked (rotated and offset) the way TFRecord frames carry it."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """`data` as one TFRecord: length, its masked CRC, the bytes, their masked CRC."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


class EventFileWriter:
    """Appends events to a new `events.out.tfevents.*` file in `folder` (named like TensorFlow's)."""

    def __init__(self, folder: Path):
        global _counter
        folder.mkdir(parents=True, exist_ok=True)
        _counter += 1
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{_counter}.v2"
        self.path = folder / name
        self._file = open(self.path, "wb")
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event: event_pb2.Event) -> None:
        self._file.write(frame(event.SerializeToString()))

    def write_summary(self, summary: summary_pb2.Summary, step: int, wall_time: float) -> None:
        """Appends one `Event` holding `summary` at `step`."""
        self._write(event_pb2.Event(wall_time=wall_time, step=int(step), summary=summary))

    def flush(self) -> None:
        """Hands the records written so far to the OS."""
        self._file.flush()

    def close(self) -> None:
        """Closes the file; closing twice is harmless."""
        if not self._file.closed:
            self._file.close()


def read_events(path: Path) -> Iterator[event_pb2.Event]:
    """The events of one file, in order; a truncated last record (a crash mid-write) is skipped."""
    with open(path, "rb") as file:
        while True:
            header = file.read(12)
            if len(header) < 12:
                return
            (length,) = struct.unpack("<Q", header[:8])
            data = file.read(length)
            footer = file.read(4)
            if len(data) < length or len(footer) < 4 or struct.unpack("<I", footer)[0] != masked_crc32c(data):
                return
            yield event_pb2.Event.FromString(data)
