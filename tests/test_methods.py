"""The maths of each method, with literal numbers, on a toy score function with known gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gradcallback.adapters.base import ModelAdapter
from gradcallback.engine import methods
from gradcallback.engine.heads import HEADS
from gradcallback.engine.integrated_gradients import integrated_gradients
from gradcallback.engine.quadrature import QUADRATURES, clenshaw_curtis, quadrature_rule
from gradcallback.engine.score import Chunk, ScoreFunction

pytestmark = pytest.mark.backends  # runs on TensorFlow, JAX and PyTorch


class QuadraticAdapter(ModelAdapter):
    """logits = [sum_th e_th^2 / 2, 0], in keras.ops: the gradient w.r.t. e is e itself, on any backend."""

    def __init__(self, hidden: int = 2):
        super().__init__(model=None)
        self.backend = keras.backend.backend()
        self._matrix = np.eye(4, hidden, dtype=np.float32)

    @staticmethod
    def matches(model):
        return False

    def embedding_matrix(self):
        return self._matrix

    @property
    def embedding_shape(self):
        return self._matrix.shape

    def forward(self, embeds, ids, mask, segment_ids, state=None):
        ops = keras.ops
        mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
        half_square = ops.sum(mask * embeds**2, axis=(1, 2)) / 2
        return {"logits": ops.stack([half_square, ops.zeros_like(half_square)], axis=1)}


def bound(n: int, t: int, hidden: int = 2, jit_compile: bool = False):
    fn = ScoreFunction(QuadraticAdapter(hidden), HEADS["class"], jit_compile)
    ones = np.ones((n, t), np.int32)
    batch = {"ids": ones, "mask": ones, "segment_ids": 0 * ones, "context": ones}
    return fn.bind(Chunk.from_numpy(batch)), fn


X = np.array([[[3.0, 4.0], [1.0, 0.0]]], np.float32)  # one probe, two tokens, H = 2
CLASS0 = np.array([[0, 0]], np.int32)


def test_gradient_norm_is_the_gradient_length():
    fn, _ = bound(1, 2)
    out = methods.gradient_norm(fn, X, CLASS0)
    np.testing.assert_allclose(out.scores, [[5.0, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(out.evaluation.values, [13.0], rtol=1e-6)  # (9 + 16 + 1) / 2


def test_gradient_x_input_sums_gradient_times_input():
    fn, _ = bound(1, 2)
    np.testing.assert_allclose(methods.gradient_x_input(fn, X, CLASS0).scores, [[25.0, 1.0]], rtol=1e-6)


def test_vanilla_gradients_uses_the_gram_matrix():
    fn, _ = bound(1, 2)
    gram = np.array([[4.0, 0.0], [0.0, 1.0]], np.float32)  # E^T E for E = diag(2, 1)
    # ||E g|| for g = (3, 4): sqrt(36 + 16); for g = (1, 0): 2
    np.testing.assert_allclose(methods.vanilla_gradients(fn, X, CLASS0, gram=gram).scores,
                               [[np.sqrt(52.0), 2.0]], rtol=1e-6)


@pytest.mark.parametrize("quadrature", QUADRATURES)
def test_integrated_gradients_exact_on_quadratic(quadrature):
    fn, _ = bound(1, 2)
    # grad along the path from 0 is a * x, so s_t = ||x_t||^2 / 2 exactly for these rules
    steps = 5 if quadrature == "clenshaw_curtis" else 4
    out = integrated_gradients(fn, X, CLASS0, baseline=np.zeros_like(X), steps=steps, quadrature=quadrature)
    np.testing.assert_allclose(out.scores, [[12.5, 0.5]], rtol=1e-5)
    np.testing.assert_allclose(out.delta, [0.0], atol=1e-5)
    assert out.per_probe["steps"].tolist() == [steps]


def test_integrated_gradients_chunking_does_not_change_results():
    fn, _ = bound(3, 2)
    x = np.random.default_rng(1).normal(size=(3, 2, 2)).astype(np.float32)
    targets = np.zeros((3, 2), np.int32)
    base = np.zeros_like(x)
    whole = integrated_gradients(fn, x, targets, baseline=base, steps=8, internal_batch_size=1000)
    split = integrated_gradients(fn, x, targets, baseline=base, steps=8, internal_batch_size=5)
    np.testing.assert_allclose(whole.scores, split.scores, rtol=1e-6)
    # The public-library bug this guards against: attributions that scale with the step count.
    more = integrated_gradients(fn, x, targets, baseline=base, steps=32)
    np.testing.assert_allclose(whole.scores, more.scores, rtol=1e-5)


def test_quadrature_rules_literal():
    alphas, weights = quadrature_rule("riemann_trapezoid", 3)
    assert alphas.tolist() == [0.0, 0.5, 1.0] and weights.tolist() == [0.25, 0.5, 0.25]
    alphas, weights = quadrature_rule("riemann_middle", 2)
    assert alphas.tolist() == [0.25, 0.75] and weights.tolist() == [0.5, 0.5]
    alphas, weights = quadrature_rule("gausslegendre", 2)
    np.testing.assert_allclose(alphas, [0.2113248654, 0.7886751346], rtol=1e-9)
    np.testing.assert_allclose(weights, [0.5, 0.5], rtol=1e-12)
    # Clenshaw-Curtis with 3 points is Simpson's rule: 1/6, 4/6, 1/6
    alphas, weights = clenshaw_curtis(2)
    np.testing.assert_allclose(alphas, [0.0, 0.5, 1.0], atol=1e-15)
    np.testing.assert_allclose(weights, [1 / 6, 4 / 6, 1 / 6], rtol=1e-12)
    np.testing.assert_allclose(clenshaw_curtis(16)[0][::2], clenshaw_curtis(8)[0], atol=1e-15)  # nested
    with pytest.raises(ValueError, match="quadrature="):
        quadrature_rule("simpson", 4)


def test_smoothgrad_is_deterministic_and_averages_noise():
    fn, _ = bound(1, 2)
    a = methods.smoothgrad(fn, X, CLASS0, samples=16, noise=0.1, seed=3)
    b = methods.smoothgrad(fn, X, CLASS0, samples=16, noise=0.1, seed=3)
    np.testing.assert_array_equal(a.scores, b.scores)
    # zero noise gives back the base method exactly
    c = methods.smoothgrad(fn, X, CLASS0, samples=4, noise=0.0)
    np.testing.assert_allclose(c.scores, [[5.0, 1.0]], rtol=1e-6)
    # the mean of ||x + eps|| is close to ||x|| for small noise, not equal to it
    assert 0 < np.abs(a.scores - [[5.0, 1.0]]).max() < 0.5


def test_smoothgrad_wraps_another_method():
    fn, _ = bound(1, 2)
    out = methods.smoothgrad(fn, X, CLASS0, base=methods.gradient_x_input, samples=2, noise=0.0)
    np.testing.assert_allclose(out.scores, [[25.0, 1.0]], rtol=1e-6)


def test_compiled_shapes_stay_bounded():
    """Backends that compile per shape see rows padded to powers of two (lengths are bucketed by the
    engine); TensorFlow without XLA and PyTorch take any shape."""
    fn, function = bound(1, 2)
    methods.gradient_norm(fn, X, CLASS0)
    methods.gradient_norm(fn, X, CLASS0)
    first = function.trace_count
    for rows in (3, 4):  # both padded to 4 rows where shapes are static
        longer, _ = bound(rows, 5)
        methods.gradient_norm(function.bind(longer.chunk), np.ones((rows, 5, 2), np.float32),
                              np.zeros((rows, 2), np.int32))
    if keras.backend.backend() == "torch":
        assert function.trace_count == 0  # eager
    elif function.static_shapes:  # JAX: one trace per compiled shape
        assert function.trace_count == first + 1
    else:
        assert function.trace_count == first == 1


def test_chunk_rows_bounds_tokens_per_chunk():
    from gradcallback.engine.methods import chunk_rows

    assert [chunk_rows("auto", t) for t in (30, 128, 256, 512, 100_000)] == [128, 64, 16, 4, 1]
    assert chunk_rows(7, 512) == 7  # an explicit size is kept
    with pytest.raises(ValueError, match="Received: internal_batch_size=0"):
        chunk_rows(0, 10)


def test_auto_chunks_take_the_backends_rows_per_call():
    """ "auto" chunks hold the backend's `rows_per_call` rows (within the memory budget): 8 IG points of one
    probe and its two forward passes run as ceil(8 / 3) = 3 gradient calls + 2 forward calls at 3 rows a call."""
    from gradcallback.engine.methods import chunk_rows

    assert chunk_rows("auto", 30, max_rows=512) == 512  # short rows: the backend's number
    assert chunk_rows("auto", 128, max_rows=512) == 64  # long rows: the attention-pair budget still binds
    fn, function = bound(1, 2)
    reference = integrated_gradients(fn, X, CLASS0, baseline=np.zeros_like(X), steps=8)
    function.rows_per_call, function.calls = 3, 0
    out = integrated_gradients(fn, X, CLASS0, baseline=np.zeros_like(X), steps=8)
    assert function.calls == 3 + 2
    np.testing.assert_allclose(out.scores, reference.scores, rtol=1e-5)
