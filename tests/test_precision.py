"""Mixed precision, XLA-compiled training and steps_per_execution > 1, with both schedules."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import build_functional_classifier

from gradcallback import AttributionCallback, ProbeSet

TEXTS = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]


@pytest.mark.large
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("schedule", [{"every_n_epochs": 1}, {"every_n_steps": 2}])
def test_mixed_precision_jit_and_steps_per_execution(policy, schedule, tmp_path, hf_tokenizer):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_functional_classifier(seed=7, num_classes=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.layers[-1].compute_dtype != "float32"  # the model really computes in 16 bits
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True, steps_per_execution=2,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probes = ProbeSet.from_texts(TEXTS[:2], hf_tokenizer, labels=[0, 1])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 8}}, **schedule)
    ids = hf_tokenizer(TEXTS * 2, padding=True, return_tensors="np")["input_ids"]
    model.fit(ids, np.array([0, 1] * 4), batch_size=2, epochs=2, callbacks=[callback], verbose=0)
    steps = [step for step, _ in callback.history["integrated_gradients"]]
    assert steps == ([0, 1, 2] if "every_n_epochs" in schedule else [0, 2, 4, 6, 8])  # 4 batches per epoch
    for method, logged in callback.history.items():
        for _, attributions in logged:
            for a in attributions:
                assert a.scores.dtype == np.float32 and np.isfinite(a.scores).all(), (method, a.scores)
                assert np.abs(a.scores).sum() > 0
                if method == "integrated_gradients":
                    assert np.isfinite(a.convergence_delta)


# Largest |difference| from the float32 run, as a share of the probe's largest |score|. float16 keeps
# 11 significant bits (5e-4 relative per rounding), bfloat16 8 (4e-3). Measured on this model: float16
# 3.4e-4 (gradient_norm) and 6.0e-4 (integrated_gradients, 16 steps), bfloat16 2.2e-3 and 2.9e-3; the
# bounds leave 3x; gradients taken in 16 bits end to end, another target or a lost cast are off by more.
TOLERANCE = {"mixed_float16": 2e-3, "mixed_bfloat16": 1e-2}


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("method, options", [("gradient_norm", {}), ("integrated_gradients", {"steps": 16})])
def test_low_precision_attributions_match_float32_with_the_same_weights(policy, method, options, hf_tokenizer):
    from gradcallback import Explainer

    reference = build_functional_classifier(seed=7, num_classes=2)
    keras.mixed_precision.set_global_policy(policy)
    try:
        low = build_functional_classifier(seed=8, num_classes=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    low.set_weights(reference.get_weights())  # the same float32 variables; only the compute dtype differs
    assert low.layers[-1].compute_dtype != "float32"
    ours = Explainer(low, hf_tokenizer).explain(TEXTS, method=method, **options)
    exact = Explainer(reference, hf_tokenizer).explain(TEXTS, method=method, **options)
    for a, b in zip(ours, exact):
        assert a.prediction.label == b.prediction.label and a.target == b.target
        error = np.abs(a.scores - b.scores).max() / np.abs(b.scores).max()
        assert error < TOLERANCE[policy], (a.tokens, a.scores, b.scores)
