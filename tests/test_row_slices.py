"""engine/row_chunks.RowSlices: a probe's 1 + K continuation rows reach the backend a budget of rows at a
time (what bounds memory on long prompts, benchmarks/llm_memory.py), with the same numbers."""

from __future__ import annotations

import numpy as np

from gradcallback import explain
from gradcallback.engine import row_chunks


def _run(lm, method: str, **options) -> np.ndarray:
    found = explain(lm, lm.preprocessor, ["The capital of France is", "The cat sat on"], method=method,
                    target=[" Paris.", " the mat"], **options)
    return np.concatenate([np.concatenate([a.scores, a.info["token_scores"].ravel(), [a.score],
                                           a.info["token_logprobs"]]) for a in found])


def test_one_row_per_call_gives_the_same_attributions(hub_causal_lm, monkeypatch):
    """Gradient x input and integrated gradients, all rows in one call vs one row per call (as past 1,024
    tokens): the same sequence rows, per-token rows, scores and log-probabilities."""
    lm = hub_causal_lm("llama3")
    whole = {m: _run(lm, m, **o) for m, o in [("gradient_x_input", {}), ("integrated_gradients", {"steps": 4})]}
    slices = []
    original = row_chunks.RowSlices._slices
    monkeypatch.setattr(row_chunks, "chunk_rows", lambda *_: 1)
    monkeypatch.setattr(row_chunks.RowSlices, "_slices", lambda self, e: slices.append(len(e)) or original(self, e))
    for method, options in [("gradient_x_input", {}), ("integrated_gradients", {"steps": 4})]:
        np.testing.assert_allclose(_run(lm, method, **options), whole[method], rtol=1e-5, atol=1e-7)
    assert slices and max(slices) > 1  # several rows came in at once and went out one by one


def test_calls_carry_at_most_the_budget():
    """Against a recording stand-in: 5 rows with a budget of 2 are 3 calls of 2, 2 and 1 rows, in order."""
    seen = []

    class Recorder:
        function = chunk = None

        def value_and_grad(self, embeds, targets, rows):
            seen.append(rows.tolist())
            ev = row_chunks.Evaluation(values=embeds[:, 0, 0], targets=targets, predicted=targets,
                                       outputs={"x": embeds[:, :, 0]})
            return ev, embeds * 2

    embeds = np.arange(5 * 3 * 2, dtype=np.float32).reshape(5, 3, 2)
    ev, grads = row_chunks.RowSlices(Recorder(), budget=2).value_and_grad(embeds, np.zeros((5, 2), np.int32))
    assert seen == [[0, 1], [2, 3], [4]]
    np.testing.assert_array_equal(grads, embeds * 2)
    np.testing.assert_array_equal(ev.outputs["x"], embeds[:, :, 0])
    np.testing.assert_array_equal(ev.values, embeds[:, 0, 0])
