"""Writers: the only code that imports `tf.summary`, plus the JSONL record file.

Both flush after every logged step: TensorBoard's writer otherwise flushes only every
10 events or 120 s, and a crash would lose the latest epochs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorboard.plugins.image import metadata as image_metadata


class EventWriter:
    """Images, text, scalars and histograms for TensorBoard, at absolute steps."""

    def __init__(self, logdir: str | Path):
        self.logdir = str(logdir)
        self._writer = tf.summary.create_file_writer(self.logdir)
        self.latest: dict[str, tuple[int, Any]] = {}  # tag -> (step, value) of scalars and texts last written

    def image(self, tag: str, pixels: np.ndarray, step: int, description: str | None = None) -> None:
        """An RGB uint8 [H, W, 3] image, PNG-encoded by PIL at fast compression (flat colours compress
        well anyway; TF's own encoder was half the callback's time per step)."""
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        # The image plugin's layout: [width, height, png...] as strings.
        tensor = tf.constant([str(pixels.shape[1]), str(pixels.shape[0]), buffer.getvalue()])
        meta = image_metadata.create_summary_metadata(display_name=tag, description=description or "")
        with self._writer.as_default(step=step):
            tf.summary.write(tag, tensor, metadata=meta)

    def text(self, tag: str, markdown: str, step: int, description: str | None = None) -> None:
        self.latest[tag] = (step, markdown)
        with self._writer.as_default(step=step):
            tf.summary.text(tag, markdown, description=description)

    def scalar(self, tag: str, value: float, step: int, description: str | None = None) -> None:
        self.latest[tag] = (step, float(value))
        with self._writer.as_default(step=step):
            tf.summary.scalar(tag, float(value), description=description)

    def histogram(self, tag: str, values: np.ndarray, step: int, description: str | None = None) -> None:
        with self._writer.as_default(step=step):
            tf.summary.histogram(tag, np.asarray(values, np.float32), description=description)

    def plugin_tensor(self, tag: str, data: bytes, step: int, *, plugin_name: str, content: bytes = b"",
                      description: str = "") -> None:
        """A scalar string tensor owned by a dynamic plugin (our dashboard). `DATA_CLASS_TENSOR` is what
        lets `data_provider.read_tensors` serve it: without it TensorBoard lists the tag but returns no data."""
        from tensorboard.compat.proto import summary_pb2

        meta = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name, content=content),
            summary_description=description, data_class=summary_pb2.DATA_CLASS_TENSOR)
        with self._writer.as_default(step=step):
            tf.summary.write(tag, tf.constant(data, dtype=tf.string), metadata=meta)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class JsonlWriter:
    """Appends one JSON object per line, so tools read results without parsing event files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, default=_plain) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")
