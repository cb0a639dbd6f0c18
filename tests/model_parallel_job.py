"""Run by tests/test_model_parallel.py in a fresh process: KERAS_BACKEND=jax with 2 host devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2 must be set before JAX starts).

    python tests/model_parallel_job.py FOLDER OUT.json LOG_DIR

Continuation attributions of a tiny Llama 3 on one device, then under `keras.distribution.ModelParallel`
with the backbone's `get_layout_map` on a 2x1 mesh (batch 2, model 1) and a 1x2 mesh (model 2: the weights
themselves split); the callback for one logged step under the 2x1 mesh, as process 0 and as process 1 of a
multi-process job would run it (`jax.process_index` patched: one process here).
Writes the differences, the shardings seen and the files written as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import keras
import keras_hub
import numpy as np

from gradcallback import AttributionCallback, ProbeSet, explain

PROMPTS, CONTINUATIONS = ["The capital of France is", "The cat sat on"], [" Paris.", " the mat"]


def attributions(lm) -> list[np.ndarray]:
    found = explain(lm, lm.preprocessor, PROMPTS, method="gradient_x_input", target=CONTINUATIONS)
    return [np.concatenate([a.scores, a.info["token_scores"].ravel(), [a.score]]) for a in found]


def distributed(folder: str, shape: tuple[int, int]) -> keras.distribution.ModelParallel:
    mesh = keras.distribution.DeviceMesh(shape, ["batch", "model"], devices=keras.distribution.list_devices())
    layout_map = keras_hub.models.Llama3Backbone.get_layout_map(mesh)
    return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")


def fitted(folder: str):
    """The model, compiled, and a callback logging every step; the text is packed once here, not in tf.data."""
    lm = keras_hub.models.CausalLM.from_preset(folder)
    lm.preprocessor.sequence_length = 16
    probes = ProbeSet.from_prompts(PROMPTS, lm.preprocessor, targets=CONTINUATIONS)
    x, y, weight = keras.tree.map_structure(keras.ops.convert_to_numpy,
                                           lm.preprocessor(["The capital of France is Paris."] * 2))
    lm.preprocessor = None  # fit on the packed ids; the probes keep the tokenizer
    lm.compile(optimizer=keras.optimizers.Adam(1e-3),
               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=[])
    callback = AttributionCallback(probes, ".", methods=("gradient_x_input",), target="label", every_n_steps=1)
    return lm, callback, (x, y, weight)


def one_logged_step(lm, callback, data: tuple, log_dir: Path) -> dict:
    """A fit of one step with the callback logging every step (steps 0 and 1); the files it left in `log_dir`."""
    callback.log_dir = log_dir
    x, y, weight = data
    lm.fit(x, y, sample_weight=weight, batch_size=2, epochs=1, callbacks=[callback], verbose=0)
    files = sorted(str(p.relative_to(log_dir)) for p in log_dir.rglob("*") if p.is_file())
    steps = [step for step, _ in callback.history["gradient_x_input"]]
    scratch_left = callback._scratch is not None and callback._scratch.exists()
    return {"files": files, "steps": steps, "chief": callback.is_chief, "scratch_left": scratch_left}


def main(folder: str, out: str, log_dir: str) -> None:
    assert len(jax.devices()) == 2, jax.devices()
    single = attributions(keras_hub.models.CausalLM.from_preset(folder))
    result: dict = {"devices": len(jax.devices())}
    for shape in ((2, 1), (1, 2)):
        with distributed(folder, shape).scope():
            lm = keras_hub.models.CausalLM.from_preset(folder)
            table = lm.backbone.token_embedding.embeddings.value
            spread = attributions(lm)
        name = f"{shape[0]}x{shape[1]}"
        result[name] = {"max_rel": max(float(np.abs(s - d).max() / np.abs(s).max()) for s, d in zip(single, spread)),
                        "shards": sorted({tuple(s.data.shape) for s in table.addressable_shards}),
                        "table": list(table.shape)}
        for s, d in zip(single, spread):
            np.testing.assert_allclose(d, s, rtol=1e-4, atol=1e-6 * np.abs(s).max())
    with distributed(folder, (2, 1)).scope():
        lm, callback, data = fitted(folder)
        result["callback"] = one_logged_step(lm, callback, data, Path(log_dir) / "process0")
        index, jax.process_index = jax.process_index, lambda: 1  # as process 1 of a multi-process job sees it
        try:
            result["process1"] = one_logged_step(lm, callback, data, Path(log_dir) / "process1")
        finally:
            jax.process_index = index
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
