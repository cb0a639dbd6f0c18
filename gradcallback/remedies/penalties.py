"""The penalties an `AttributionPrior` can put on a group's attribution: small pure functions in keras.ops.

Each takes the input gradient g = d log p(label | x) / d e [N, T, H], the embeddings e [N, T, H], the
group's mask m [N, T] and the mask of real (non-padding) tokens v [N, T], and returns one value per row [N].

    input_gradient   sum_t m_t sum_h g_th^2
                     "Right for the Right Reasons" (Ross, Hughes & Doshi-Velez, IJCAI 2017), eq. 1's
                     second term: the squared input gradient on tokens annotated as irrelevant.
    gradient_x_input sum_t m_t (sum_h g_th e_th)^2
                     the group's gradient x input attributions (Shrikumar et al. 2016), squared:
                     the score the callback logs, held at zero.
    share            sum_t m_t |g_t|^2 / sum_t v_t |g_t|^2
                     the group's share of the squared input-gradient mass, in [0, 1]: free of the
                     gradients' scale, so one weight suits models whose gradients differ by orders
                     of magnitude (the scale problem measured in the stack notes' spike).
"""

from __future__ import annotations

from typing import Any, Callable

import keras

EPSILON = 1e-12


def input_gradient(grads: Any, embeds: Any, group: Any, valid: Any) -> Any:
    """RRR's penalty per row: the squared input gradient summed over the group's tokens and the embedding axis."""
    ops = keras.ops
    return ops.sum(group * ops.sum(ops.square(grads), axis=-1), axis=-1)  # [N]


def gradient_x_input(grads: Any, embeds: Any, group: Any, valid: Any) -> Any:
    """The squared gradient x input attribution of each group token, summed per row."""
    ops = keras.ops
    return ops.sum(group * ops.square(ops.sum(grads * embeds, axis=-1)), axis=-1)  # [N]


def share(grads: Any, embeds: Any, group: Any, valid: Any) -> Any:
    """The group's share of the row's squared input-gradient mass over its real tokens (0 to 1)."""
    ops = keras.ops
    mass = ops.sum(ops.square(grads), axis=-1) * valid  # [N, T]
    return ops.sum(group * mass, axis=-1) / (ops.sum(mass, axis=-1) + EPSILON)  # [N]


PENALTIES: dict[str, Callable[..., Any]] = {
    "input_gradient": input_gradient,
    "gradient_x_input": gradient_x_input,
    "share": share,
}
