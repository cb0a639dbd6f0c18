"""Task heads: which scalar per example is explained, and which target is predicted.

A head is a pair of tiny pure TF functions over the adapter's named outputs:
`score(outputs, targets) -> [N]` picks the explained logit, and
`resolve(outputs, targets, context) -> [N, 2]` fills targets left at -1 with the
model's own prediction (inside the compiled function, so no extra forward pass).

Targets are always int32 [N, 2]:
  classification        (class, 0)
  question answering    (start, end)     -- seed 003 explains start + end logits
  token classification  (position, class)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from .attribution import Prediction

MAX_ANSWER_TOKENS = 30
_NEG = -1e9  # not -inf: -inf + -inf stays finite-safe in argmax but breaks softmax

Outputs = dict  # name -> tf.Tensor


def class_logit(outputs: Outputs, targets: tf.Tensor) -> tf.Tensor:
    """logits[n, class_n]."""
    return tf.gather(outputs["logits"], targets[:, 0], batch_dims=1)


def span_logits(outputs: Outputs, targets: tf.Tensor) -> tf.Tensor:
    """start_logits[n, start_n] + end_logits[n, end_n] (seed 003's span target)."""
    return start_logit(outputs, targets) + end_logit(outputs, targets)


def start_logit(outputs: Outputs, targets: tf.Tensor) -> tf.Tensor:
    return tf.gather(outputs["start_logits"], targets[:, 0], batch_dims=1)


def end_logit(outputs: Outputs, targets: tf.Tensor) -> tf.Tensor:
    return tf.gather(outputs["end_logits"], targets[:, 1], batch_dims=1)


def token_class_logit(outputs: Outputs, targets: tf.Tensor) -> tf.Tensor:
    """logits[n, position_n, class_n]."""
    at_position = tf.gather(outputs["logits"], targets[:, 0], batch_dims=1)  # [N, C]
    return tf.gather(at_position, targets[:, 1], batch_dims=1)


def resolve_class(outputs: Outputs, targets: tf.Tensor, context: tf.Tensor) -> tf.Tensor:
    predicted = tf.argmax(outputs["logits"], axis=-1, output_type=tf.int32)
    chosen = tf.where(targets[:, 0] < 0, predicted, targets[:, 0])
    return tf.stack([chosen, tf.zeros_like(chosen)], axis=1)


def resolve_span(outputs: Outputs, targets: tf.Tensor, context: tf.Tensor) -> tf.Tensor:
    """Best (start, end) with start <= end < start + MAX_ANSWER_TOKENS, both in the context."""
    in_context = tf.cast(context, tf.bool)
    start = tf.where(in_context, outputs["start_logits"], _NEG)
    end = tf.where(in_context, outputs["end_logits"], _NEG)
    pair = start[:, :, None] + end[:, None, :]  # [N, T(start), T(end)]
    length = tf.shape(pair)[1]
    offset = tf.range(length)[None, :] - tf.range(length)[:, None]  # end - start
    allowed = (offset >= 0) & (offset < MAX_ANSWER_TOKENS)
    pair = tf.where(allowed[None], pair, 2 * _NEG)
    flat = tf.argmax(tf.reshape(pair, (tf.shape(pair)[0], -1)), axis=-1, output_type=tf.int32)
    best = tf.stack([flat // length, flat % length], axis=1)
    return tf.where(targets < 0, best, targets)


def resolve_token_class(outputs: Outputs, targets: tf.Tensor, context: tf.Tensor) -> tf.Tensor:
    at_position = tf.gather(outputs["logits"], targets[:, 0], batch_dims=1)
    predicted = tf.argmax(at_position, axis=-1, output_type=tf.int32)
    return tf.stack([targets[:, 0], tf.where(targets[:, 1] < 0, predicted, targets[:, 1])], axis=1)


@dataclass(frozen=True)
class Head:
    name: str
    task: str
    score: Callable[[Outputs, tf.Tensor], tf.Tensor]
    resolve: Callable[[Outputs, tf.Tensor, tf.Tensor], tf.Tensor]
    predicts: tuple[bool, bool] = (True, True)  # target columns the model's prediction fills

    def prediction_query(self, targets: tf.Tensor) -> tf.Tensor:
        """`targets` with the columns the model predicts reset to -1 (a token position stays)."""
        return tf.where(tf.constant([self.predicts]), -1, targets)


HEADS = {
    "class": Head("class", "classification", class_logit, resolve_class),
    "span": Head("span", "question_answering", span_logits, resolve_span),
    "start": Head("start", "question_answering", start_logit, resolve_span),
    "end": Head("end", "question_answering", end_logit, resolve_span),
    "token": Head("token", "token_classification", token_class_logit, resolve_token_class, (False, True)),
}


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def make_prediction(task: str, outputs: dict[str, np.ndarray], predicted: np.ndarray) -> Prediction:
    """The model's prediction for one probe from its (unpadded) numpy outputs.

    `predicted` is the head's resolution of an all -1 target: the best span for
    question answering, (position, predicted class) for token classification.
    QA probability = softmax(start)[s] * softmax(end)[e] over the probe's real tokens.
    """
    if task == "classification":
        probs = _softmax(outputs["logits"])
        label = int(np.argmax(probs))
        return Prediction(label=label, probabilities=probs, probability=float(probs[label]))
    if task == "token_classification":
        probs = _softmax(outputs["logits"][int(predicted[0])])
        label = int(np.argmax(probs))
        return Prediction(label=label, probabilities=probs, probability=float(probs[label]))
    start, end = int(predicted[0]), int(predicted[1])
    p = _softmax(outputs["start_logits"])[start] * _softmax(outputs["end_logits"])[end]
    return Prediction(span=(start, end), probability=float(p))
