"""The model's prediction for one probe, from the outputs a head kept (numpy only)."""

from __future__ import annotations

import numpy as np

from ..attribution import Prediction


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so large logits do not overflow."""
    z = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def make_prediction(task: str, outputs: dict[str, np.ndarray], predicted: np.ndarray) -> Prediction:
    """Classification, token classification and causal LM: softmax of the kept logits (for a model
    whose outputs are probabilities the adapter hands over log-probabilities, so this is exact).
    `predicted` is the head's resolution of an all -1 target: for QA the best span, whose
    probability is softmax(start)[s] * softmax(end)[e] over the probe's real tokens."""
    if task in ("classification", "token_classification", "causal_lm"):
        probs = softmax(np.asarray(outputs["logits"], np.float64)).astype(np.float32)
        label = int(predicted[1]) if task != "classification" else int(np.argmax(probs))
        kept = None if task == "causal_lm" else probs  # not a vocabulary-sized array per probe and step
        return Prediction(label=label, probabilities=kept, probability=float(probs[label]))
    start, end = int(predicted[0]), int(predicted[1])
    p = softmax(outputs["start_logits"])[start] * softmax(outputs["end_logits"])[end]
    return Prediction(span=(start, end), probability=float(p))
