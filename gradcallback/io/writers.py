"""Writers: the only code that writes event files, plus the JSONL record file.

Event files are written with tensorboard's own protos (the same tags, plugin names and data
that `tf.summary` writes), framed as TFRecords by `eventfile.py`: no TensorFlow needed, so a
run on JAX or PyTorch imports no TensorFlow to log. Both writers flush after every logged
step: a crash would otherwise lose the latest epochs.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.histogram.summary_v2 import histogram_pb
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.util import tensor_util

from .eventfile import EventFileWriter

BLOB_SEQUENCE = summary_pb2.DATA_CLASS_BLOB_SEQUENCE


class EventWriter:
    """Images, text, scalars, histograms and plugin tensors for TensorBoard, at absolute steps."""

    def __init__(self, logdir: str | Path):
        self.logdir = str(logdir)
        self._file = EventFileWriter(Path(logdir))
        self._described: set[str] = set()  # tags whose metadata went out (the first event carries it)
        self.latest: dict[str, tuple[int, Any]] = {}  # tag -> (step, value) of scalars and texts last written

    def _write(self, tag: str, tensor: Any, step: int, metadata: summary_pb2.SummaryMetadata) -> None:
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        if tag not in self._described:
            value.metadata.CopyFrom(metadata)
            self._described.add(tag)
        self._file.write_summary(summary_pb2.Summary(value=[value]), step, time.time())

    def image(self, tag: str, pixels: np.ndarray, step: int, description: str | None = None) -> None:
        """An RGB uint8 [H, W, 3] image, PNG-encoded (`png`)."""
        # The image plugin's layout: [width, height, png...] as strings.
        blobs = np.array([str(pixels.shape[1]).encode(), str(pixels.shape[0]).encode(), png(pixels)],
                         dtype=object)
        meta = image_metadata.create_summary_metadata(display_name=tag, description=description or "")
        meta.data_class = BLOB_SEQUENCE
        self._write(tag, tensor_util.make_tensor_proto(blobs), step, meta)

    def text(self, tag: str, markdown: str, step: int, description: str | None = None) -> None:
        """A markdown text summary for TensorBoard's text plugin; also kept in `latest`."""
        self.latest[tag] = (step, markdown)
        meta = text_metadata.create_summary_metadata(display_name=None, description=description or "")
        meta.data_class = summary_pb2.DATA_CLASS_TENSOR
        self._write(tag, tensor_util.make_tensor_proto(markdown.encode("utf-8")), step, meta)

    def scalar(self, tag: str, value: float, step: int, description: str | None = None) -> None:
        """A float32 scalar summary; also kept in `latest`."""
        self.latest[tag] = (step, float(value))
        meta = scalar_metadata.create_summary_metadata(display_name=None, description=description or "")
        meta.data_class = summary_pb2.DATA_CLASS_SCALAR
        self._write(tag, tensor_util.make_tensor_proto(np.float32(value)), step, meta)

    def histogram(self, tag: str, values: np.ndarray, step: int, description: str | None = None) -> None:
        """A histogram of `values` (any shape), bucketed by tensorboard's own `histogram_pb`."""
        value = histogram_pb(tag, np.asarray(values, np.float64), description=description or "").value[0]
        value.metadata.data_class = summary_pb2.DATA_CLASS_TENSOR
        self._write(tag, value.tensor, step, value.metadata)

    def plugin_tensor(self, tag: str, data: bytes, step: int, *, plugin_name: str, content: bytes = b"",
                      description: str = "") -> None:
        """A scalar string tensor owned by a dynamic plugin (our dashboard). `DATA_CLASS_TENSOR` is what
        lets `data_provider.read_tensors` serve it: without it TensorBoard lists the tag but returns no data."""
        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name, content=content),
            summary_description=description, data_class=summary_pb2.DATA_CLASS_TENSOR)
        self._write(tag, tensor_util.make_tensor_proto(np.array(data, dtype=object)), step, meta)

    def flush(self) -> None:
        """Hands the events written so far to the OS, so TensorBoard can read them now."""
        self._file.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._file.close()


def png(pixels: np.ndarray) -> bytes:
    """An RGB uint8 [H, W, 3] image as PNG bytes: unfiltered rows, deflated at level 1 (the fastest).

    PIL's encoder picks a filter for each row by trying them, about 3x the time for these images (flat
    colours, white space, a few glyphs) and no smaller; decoded, the pixels are the same (lossless)."""
    pixels = np.ascontiguousarray(pixels, np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"Expected an RGB image of shape [height, width, 3]. Received: shape={pixels.shape}")
    height, width = pixels.shape[:2]
    rows = np.zeros((height, 1 + 3 * width), np.uint8)  # each row: filter type 0 ("none"), then its bytes
    rows[:, 1:] = pixels.reshape(height, 3 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits a channel, RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + \
        _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class JsonlWriter:
    """Writes one JSON object per line, so tools read results without parsing event files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Appends `record` as one line; numpy arrays and scalars become plain lists and numbers."""
        self._file.write(json.dumps(record, ensure_ascii=False, default=_plain) + "\n")

    def flush(self) -> None:
        """Hands the lines written so far to the OS, so readers see them now."""
        self._file.flush()

    def close(self) -> None:
        """Closes the record file."""
        self._file.close()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")
