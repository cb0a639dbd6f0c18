"""The dashboard's per-step payload: everything the view needs for one (step, method), compact.

One payload per logged step and method, written as a scalar string tensor under our plugin name
(tag `dashboard/<method>`). Pure numpy over `Attribution`s: no TensorFlow, no TensorBoard.

Layout (then gzip-compressed as a whole; the plugin serves it as-is with `Content-Encoding: gzip`):

    b"GCA1" | uint32 LE header length | header JSON (UTF-8, space-padded to 4 bytes) | arrays

Every array starts on a 4-byte boundary, little-endian, described in `header["arrays"]` as
name -> [byte offset from the first array, dtype, count]:

    offsets  uint32 [probes + 1]  first token of each probe in the flat arrays
    tokens   uint16|uint32 [T]    index into `header["vocab"]` (token strings, stored once per step)
    scores   float16 [T]          score / the probe's scale: float16 keeps 3 significant digits
    scales   float32 [probes]     the probe's largest finite |score| (1 when all are zero)
    flags    uint8 [T]            1 word start (`adapters.words.word_spans`, by `header["scheme"]`: "wordpiece",
                                  "bpe", "sentencepiece", "whole"), 2 special token, 4 second segment (QA context)
    groups   uint8|16|32 [T]      bit g set: the token belongs to spurious group g (when groups exist)

The step's alerts are in `header["alerts"]`: each `Alert.as_dict()` plus its "tag" and, for the
viewer written before alerts were records, "text" (the message); `header["alert_groups"]` holds
the subjects of those alerts that are group names of this payload.

`header["probes"]` holds per-probe columns, one list each (`probes()` turns them into one dict per
probe): pred, prob, target, label, correct (true / false / null without a label, decided once by
`analysis.metrics.correct`: the view never judges it), and span, answer, delta where they apply.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any, Mapping, Sequence

import numpy as np

from ..adapters.words import marker
from ..alerts import Alert
from ..analysis import metrics
from ..analysis.groups import group_mask
from ..attribution import Attribution
from ..views.tables import word_groups
from . import PLUGIN_NAME

MAGIC = b"GCA1"
VERSION = 1
WORD_START, SPECIAL, SECOND = 1, 2, 4
MAX_GROUPS = 32
MAX_ALERT_CHARS = 400  # a guard's message quotes the exception; the view shows its head


def tag_for(method: str) -> str:
    """The summary tag `method`'s dashboard payloads are written under."""
    return f"dashboard/{method}"


def plugin_content(method: str) -> bytes:
    """The summary metadata's plugin content: lets the plugin list methods without reading data."""
    return json.dumps({"version": VERSION, "method": method}).encode("utf-8")


def build(step: int, method: str, attributions: Sequence[Attribution], *, signed: bool,
          label_names: Sequence[str] | None = None, labels: Sequence | None = None,
          groups: Mapping[str, Any] | None = None, alerts: Sequence[Alert] = ()) -> bytes:
    """The gzip-compressed payload of one step and method (see the module docstring)."""
    names = list(groups or {})[:MAX_GROUPS]
    vocab: dict[str, int] = {}
    token_index = [vocab.setdefault(t, len(vocab)) for a in attributions for t in a.tokens]
    scales = np.array([_scale(a.scores) for a in attributions], np.float32)
    header = {
        "version": VERSION, "step": int(step), "method": method, "signed": bool(signed),
        "task": attributions[0].task if attributions else "classification",
        "scheme": attributions[0].scheme if attributions else None,  # how flags' word starts were found
        "marker": marker(attributions[0].scheme) if attributions else None,  # what the viewer strips from pieces
        "label_names": None if label_names is None else [str(n) for n in label_names],
        "groups": names, "alerts": [_alert_entry(a) for a in alerts],
        "alert_groups": [n for n in names if n in {a.subject for a in alerts}],
        "vocab": list(vocab), "probes": _probe_columns(attributions, labels),
    }
    arrays = {
        "offsets": np.cumsum([0] + [len(a.tokens) for a in attributions]).astype(np.uint32),
        "tokens": np.array(token_index, np.uint16 if len(vocab) <= 0xFFFF else np.uint32),
        "scores": _scaled_scores(attributions, scales),
        "scales": scales,
        "flags": np.concatenate([_flags(a) for a in attributions] or [np.zeros(0, np.uint8)]),
    }
    if names:
        arrays["groups"] = _group_bits(attributions, [groups[n] for n in names])
    return gzip.compress(_pack(header, arrays), compresslevel=6, mtime=0)


def write_step(events: Any, step: int, method: str, attributions: Sequence[Attribution], *, signed: bool,
               label_names: Sequence[str] | None = None, labels: Sequence | None = None,
               groups: Mapping[str, Any] | None = None, alerts: Sequence[Alert] = ()) -> int:
    """Write one step's payload through `events.plugin_tensor`; returns its size in bytes."""
    data = build(step, method, attributions, signed=signed, label_names=label_names, labels=labels,
                 groups=groups, alerts=alerts)
    events.plugin_tensor(tag_for(method), data, step, plugin_name=PLUGIN_NAME, content=plugin_content(method),
                         description=f"method: {method}; gradcallback Attributions dashboard data")
    return len(data)


def _alert_entry(alert: Alert) -> dict[str, Any]:
    message = alert.message[:MAX_ALERT_CHARS]
    return {**alert.as_dict(), "message": message, "tag": alert.tag, "text": message}


def alert_methods(series: Mapping[int, bytes]) -> dict[int, list[str]]:
    """The methods each alerting step's alerts name, step -> methods, for every step of `series` (step ->
    payload) whose payload carries alerts (an empty list when none names one). Reads the headers only."""
    out = {}
    for step, blob in sorted(series.items()):
        alerts = header(blob)["alerts"]
        if alerts:  # payloads from before alerts were records have no "method": they name none
            out[step] = sorted({a["method"] for a in alerts if a.get("method")})
    return out


def decode(blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of a payload made by `build` (gzip-compressed or not)."""
    data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else bytes(blob)
    if data[:4] != MAGIC:
        raise ValueError(f"Expected a gradcallback dashboard payload starting with {MAGIC!r}. Received: {data[:4]!r}")
    size = int(np.frombuffer(data, "<u4", 1, 4)[0])
    header = json.loads(data[8:8 + size].decode("utf-8"))
    arrays = {name: np.frombuffer(data, np.dtype(dtype).newbyteorder("<"), count, 8 + size + offset)
              for name, (offset, dtype, count) in header["arrays"].items()}
    return header, arrays


def header(blob: bytes) -> dict[str, Any]:
    """Only the header of a gzip-compressed payload (alerts, vocabulary, per-probe columns): the arrays
    are not decompressed, so listing a run's alert steps stays cheap."""
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = stream.decompress(blob, 8)
    if head[:4] != MAGIC:
        raise ValueError(f"Expected a gradcallback dashboard payload starting with {MAGIC!r}. Received: {head[:4]!r}")
    size = int(np.frombuffer(head, "<u4", 1, 4)[0])
    text = stream.decompress(stream.unconsumed_tail, size)
    return json.loads(text.decode("utf-8"))


def probes(blob: bytes) -> list[dict[str, Any]]:
    """Per probe: tokens, scores (float32, at stored precision), flags and group names, for readers and tests."""
    header, arrays = decode(blob)
    offsets, vocab, out = arrays["offsets"], header["vocab"], []
    for i in range(len(offsets) - 1):
        part = slice(int(offsets[i]), int(offsets[i + 1]))
        bits = arrays["groups"][part] if "groups" in arrays else np.zeros(part.stop - part.start, np.uint8)
        out.append({"tokens": [vocab[j] for j in arrays["tokens"][part]],
                    "scores": arrays["scores"][part].astype(np.float32) * arrays["scales"][i],
                    "flags": arrays["flags"][part],
                    "groups": [[n for g, n in enumerate(header["groups"]) if int(b) >> g & 1] for b in bits],
                    **{key: column[i] for key, column in header["probes"].items()}})
    return out


def _scale(scores: np.ndarray) -> float:
    finite = np.abs(np.asarray(scores, np.float64))
    finite = finite[np.isfinite(finite)]
    peak = float(finite.max()) if finite.size else 0.0
    return peak if peak > 0 else 1.0


def _scaled_scores(attributions: Sequence[Attribution], scales: np.ndarray) -> np.ndarray:
    # Scaled per probe, float16 never underflows on tiny gradients (1e-6) nor overflows on large logits.
    parts = [np.asarray(a.scores, np.float64) / s for a, s in zip(attributions, scales)]
    return np.concatenate(parts).astype(np.float16) if parts else np.zeros(0, np.float16)


def _flags(a: Attribution) -> np.ndarray:
    flags = np.zeros(len(a.tokens), np.uint8)
    flags[[g[0] for g in word_groups(a)]] |= WORD_START
    if a.special_mask is not None:
        flags[np.asarray(a.special_mask, bool)] |= SPECIAL
    if a.segment_ids is not None:
        flags[np.asarray(a.segment_ids) == 1] |= SECOND
    return flags


def _group_bits(attributions: Sequence[Attribution], specs: Sequence[Any]) -> np.ndarray:
    dtype = np.uint8 if len(specs) <= 8 else np.uint16 if len(specs) <= 16 else np.uint32
    parts = []
    for a in attributions:
        bits = np.zeros(len(a.tokens), np.uint32)
        for g, spec in enumerate(specs):
            bits |= group_mask(a, spec).astype(np.uint32) << np.uint32(g)
        parts.append(bits.astype(dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _probe_columns(attributions: Sequence[Attribution], labels: Sequence | None) -> dict[str, list]:
    """Per-probe values as columns (one list each): prediction, probability, target, label, whether the
    prediction is correct (`metrics.correct`), QA span."""
    columns: dict[str, list] = {
        "pred": [a.prediction.label for a in attributions],
        "prob": [round(float(a.prediction.probability), 4) for a in attributions],
        "target": [_jsonable(a.target) for a in attributions],
        "label": [_jsonable(x) for x in labels] if labels is not None else [None] * len(attributions),
        # true / false / null (no label): computed here once, so the view never judges it itself
        "correct": [metrics.correct(a, x) for a, x in
                    zip(attributions, labels if labels is not None else [None] * len(attributions))],
    }
    if any(a.prediction.span is not None for a in attributions):
        columns["span"] = [None if a.prediction.span is None else [int(x) for x in a.prediction.span]
                           for a in attributions]
        columns["answer"] = [a.prediction.answer for a in attributions]
    if any("target_ids" in a.info for a in attributions):  # causal-LM continuations
        columns["continuation"] = [a.info.get("target_text") for a in attributions]
        columns["answer"] = [a.prediction.answer for a in attributions]
        columns["mean_logprob"] = [_jsonable(round(float(a.info.get("mean_logprob", np.nan)), 4))
                                   for a in attributions]
        columns["token_scores"] = [_token_rows(a) for a in attributions]
    if any(a.convergence_delta is not None for a in attributions):
        columns["delta"] = [None if a.convergence_delta is None else float(a.convergence_delta)
                            for a in attributions]
    columns["prob"] = [p if np.isfinite(p) else None for p in columns["prob"]]  # JSON has no NaN
    columns["pred"] = [None if p is None else int(p) for p in columns["pred"]]
    return columns


def _token_rows(a: Attribution) -> dict[str, Any] | None:
    """The [continuation tokens x prompt tokens] matrix, scaled by its largest |value|, 3 decimals."""
    rows = a.info.get("token_scores")
    if rows is None:
        return None
    rows = np.nan_to_num(np.asarray(rows, np.float64))
    scale = float(np.abs(rows).max()) or 1.0
    return {"tokens": list(a.info["target_tokens"]), "scale": scale, "rows": np.round(rows / scale, 3).tolist()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value if value is None or isinstance(value, (int, float, str)) else str(value)


def _pack(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """MAGIC, header length, header JSON and the 4-byte-aligned arrays (offsets counted from the first one)."""
    layout, parts, cursor = {}, [], 0
    for name, array in arrays.items():
        raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
        layout[name] = [cursor, array.dtype.name, int(array.size)]
        parts.append(raw + b"\0" * (-len(raw) % 4))
        cursor += len(parts[-1])
    text = json.dumps({**header, "arrays": layout}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    return MAGIC + np.uint32(len(text)).astype("<u4").tobytes() + text + b"".join(parts)


def write_results(events: Any, step: int, results: Mapping[str, Sequence[Attribution]], *,
                  signed: Mapping[str, bool], label_names: Sequence[str] | None = None,
                  labels: Sequence | None = None, groups: Mapping[str, Any] | None = None,
                  alerts: Sequence[Alert] = ()) -> int:
    """The callback's hook, after the step's monitors ran: one payload per method, each with all of the
    step's `alerts`. Returns the bytes written."""
    return sum(write_step(events, step, method, attributions, signed=signed[method], label_names=label_names,
                          labels=labels, groups=groups, alerts=alerts) for method, attributions in results.items())
