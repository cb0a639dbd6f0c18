"""Task heads: which scalar per example is explained, and which target is predicted.

A head is a pair of tiny functions over the adapter's named outputs, written with `keras.ops`
so that one definition runs inside every backend's compiled function (tf.function, jax.jit,
torch eager): `score(outputs, targets) -> [N]` picks the explained value, and
`resolve(outputs, targets, context) -> [N, 2]` fills targets left at -1 with the model's
own prediction (inside the same pass: no extra forward). `keep(outputs, targets)` is what
comes back to numpy for the prediction (a causal LM's logits at one position, not [N, T, V]).

Targets are always int32 [N, 2]:
  classification        (class, 0)
  question answering    (start, end)     -- seed 003 explains start + end logits
  token classification  (position, class)
  causal LM             (position, token)   -- the next token after the prompt's last position
  continuation          (first, count)      -- the summed log-probability of the tokens at positions
                                               first .. first + count - 1 of the input (teacher forcing)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from keras import ops

MAX_ANSWER_TOKENS = 30
_NEG = -1e9  # not -inf: -inf + -inf stays finite-safe in argmax but breaks softmax

Outputs = dict  # name -> backend tensor


def _pick(x: Any, index: Any) -> Any:
    """x[n, index[n]] for x [N, C] and index [N]."""
    return ops.take_along_axis(x, ops.expand_dims(index, 1), axis=1)[:, 0]


def _at_position(x: Any, position: Any) -> Any:
    """x[n, position[n], :] for x [N, T, C]: a one-hot weighted sum, identical on every backend."""
    weights = ops.one_hot(position, ops.shape(x)[1], dtype=x.dtype)  # [N, T]
    return ops.sum(x * ops.expand_dims(weights, -1), axis=1)  # [N, C]


def class_logit(outputs: Outputs, targets: Any) -> Any:
    """class_scores[n, class_n] (the logits, unless the adapter says what else is explained)."""
    return _pick(outputs.get("class_scores", outputs["logits"]), targets[:, 0])


def span_logits(outputs: Outputs, targets: Any) -> Any:
    """start_logits[n, start_n] + end_logits[n, end_n] (seed 003's span target)."""
    return start_logit(outputs, targets) + end_logit(outputs, targets)


def start_logit(outputs: Outputs, targets: Any) -> Any:
    """start_logits[n, start_n]: the answer's first token alone."""
    return _pick(outputs["start_logits"], targets[:, 0])


def end_logit(outputs: Outputs, targets: Any) -> Any:
    """end_logits[n, end_n]: the answer's last token alone."""
    return _pick(outputs["end_logits"], targets[:, 1])


def position_logit(outputs: Outputs, targets: Any) -> Any:
    """logits[n, position_n, class_n]: token classification, or a causal LM's next token."""
    return _pick(_at_position(outputs["logits"], targets[:, 0]), targets[:, 1])


def next_token_logprobs(logits: Any, ids: Any) -> Any:
    """Log p(ids[n, q + 1] | ids[n, :q + 1]) at every position q, [N, T] (the last position's is junk).

    log_softmax(z)[i] = z_i - logsumexp(z): only [N, T] comes out of the [N, T, V] logits of the chunk.
    """
    following = ops.concatenate([ids[:, 1:], ids[:, :1]], axis=1)  # [N, T]: the token each position predicts
    picked = ops.take_along_axis(logits, ops.expand_dims(_int(following), -1), axis=-1)[..., 0]
    return picked - ops.logsumexp(logits, axis=-1)


def _window(targets: Any, length: Any) -> Any:
    """[N, T] float weights: 1 at the positions q whose logits predict the scored tokens (first - 1 ..)."""
    q = ops.expand_dims(ops.arange(length), 0)
    start = ops.expand_dims(targets[:, 0] - 1, 1)
    return ops.cast(ops.logical_and(q >= start, q < start + ops.expand_dims(targets[:, 1], 1)), "float32")


def continuation_logprob(outputs: Outputs, targets: Any) -> Any:
    """sum_{t=first}^{first+count-1} log p(x_t | x_<t): a continuation's log-probability, teacher forced.

    A row with count 1 is one continuation token's log-probability (Captum's LLMGradientAttribution target).
    """
    logprobs = next_token_logprobs(outputs["logits"], outputs["ids"])
    return ops.sum(logprobs * _window(targets, ops.shape(logprobs)[1]), axis=1)


def resolve_given(outputs: Outputs, targets: Any, context: Any) -> Any:
    """Continuation targets are always given: returned as they are."""
    return targets


def keep_continuation(outputs: Outputs, targets: Any) -> Outputs:
    """Per position: the next token's log-probability and the greedy choice, [N, T] each (no vocabulary axis)."""
    logits = outputs["logits"]
    return {"logprobs": next_token_logprobs(logits, outputs["ids"]),
            "greedy": ops.cast(ops.argmax(logits, axis=-1), "float32")}


def _int(x: Any) -> Any:
    return ops.cast(x, "int32")


def resolve_class(outputs: Outputs, targets: Any, context: Any) -> Any:
    """(class, 0) targets, a class of -1 replaced by the argmax of the logits; `context` is unused."""
    predicted = _int(ops.argmax(outputs["logits"], axis=-1))
    chosen = ops.where(targets[:, 0] < 0, predicted, targets[:, 0])
    return ops.stack([chosen, ops.zeros_like(chosen)], axis=1)


def resolve_span(outputs: Outputs, targets: Any, context: Any) -> Any:
    """Best (start, end) with start <= end < start + MAX_ANSWER_TOKENS, both in the context."""
    in_context = ops.cast(context, "bool")
    start = ops.where(in_context, outputs["start_logits"], _NEG)
    end = ops.where(in_context, outputs["end_logits"], _NEG)
    pair = ops.expand_dims(start, 2) + ops.expand_dims(end, 1)  # [N, T(start), T(end)]
    length = ops.shape(pair)[1]
    offset = ops.expand_dims(ops.arange(length), 0) - ops.expand_dims(ops.arange(length), 1)  # end - start
    allowed = ops.logical_and(offset >= 0, offset < MAX_ANSWER_TOKENS)
    pair = ops.where(ops.expand_dims(allowed, 0), pair, 2 * _NEG)
    flat = _int(ops.argmax(ops.reshape(pair, (ops.shape(pair)[0], -1)), axis=-1))
    best = ops.stack([flat // length, flat % length], axis=1)
    return ops.where(targets < 0, _int(best), targets)


def resolve_position(outputs: Outputs, targets: Any, context: Any) -> Any:
    """(position, class) targets, a class of -1 replaced by the argmax at that position; `context` is unused."""
    predicted = _int(ops.argmax(_at_position(outputs["logits"], targets[:, 0]), axis=-1))
    return ops.stack([targets[:, 0], ops.where(targets[:, 1] < 0, predicted, targets[:, 1])], axis=1)


def keep_all(outputs: Outputs, targets: Any) -> Outputs:
    """Every output goes back to numpy (classification and QA outputs are small)."""
    return outputs


def keep_position(outputs: Outputs, targets: Any) -> Outputs:
    """Only the explained position's logits go back to numpy: [N, C] (or [N, V] for a causal LM)."""
    return {"logits": _at_position(outputs["logits"], targets[:, 0])}


@dataclass(frozen=True)
class Head:
    """One task head: the explained scalar (`score`), how -1 targets become predictions (`resolve`), what is kept.

    `predicts` says which of the two target columns the model's prediction fills; `keep` picks
    the outputs that come back to numpy for the prediction.
    """

    name: str
    task: str
    score: Callable[[Outputs, Any], Any]
    resolve: Callable[[Outputs, Any, Any], Any]
    predicts: tuple[bool, bool] = (True, True)  # target columns the model's prediction fills
    keep: Callable[[Outputs, Any], Outputs] = keep_all
    needs_ids: bool = False  # score and keep read the input ids (outputs["ids"])

    def prediction_query(self, targets: Any) -> Any:
        """`targets` with the columns the model predicts reset to -1 (a token position stays)."""
        return ops.where(np.array([self.predicts]), -1, targets)


HEADS = {
    "class": Head("class", "classification", class_logit, resolve_class),
    "span": Head("span", "question_answering", span_logits, resolve_span),
    "start": Head("start", "question_answering", start_logit, resolve_span),
    "end": Head("end", "question_answering", end_logit, resolve_span),
    "token": Head("token", "token_classification", position_logit, resolve_position, (False, True), keep_position),
    "next_token": Head("next_token", "causal_lm", position_logit, resolve_position, (False, True), keep_position),
    "continuation": Head("continuation", "causal_lm", continuation_logprob, resolve_given, (False, False),
                         keep_continuation, needs_ids=True),
}


def run_head(adapter: Any, head: Head, embeds: Any, targets: Any, ids: Any, mask: Any, segment_ids: Any,
             context: Any, state: Any = None) -> tuple[Any, Any, Any, Outputs]:
    """One forward pass from embeddings: (explained values [N], resolved targets [N, 2],
    the model's own prediction [N, 2], the outputs kept for the prediction)."""
    outputs = adapter.forward(embeds, ids, mask, segment_ids, state)
    if head.needs_ids:
        outputs = dict(outputs, ids=ids)
    resolved = head.resolve(outputs, targets, context)
    predicted = head.resolve(outputs, head.prediction_query(targets), context)
    return head.score(outputs, resolved), resolved, predicted, head.keep(outputs, resolved)
