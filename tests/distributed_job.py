"""One process of a distributed test job (run by tests/test_distributed.py in a subprocess).

    python distributed_job.py mirrored|multiworker OUT_JSON LOG_DIR

Trains the same tiny Keras 3 model twice from the same seed, with and without
AttributionCallback, and writes the weights' checksums and the files under LOG_DIR.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

MODE, OUT, LOG_DIR = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if MODE == "mirrored":  # two logical CPUs in one process
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
else:  # TF_CONFIG names this worker
    strategy = tf.distribute.MultiWorkerMirroredStrategy()

# Keras 3's fit cannot take MultiWorkerMirroredStrategy's per-replica batches (it fails without
# any callback too); tf-keras, which transformers TF models train with, can: multi-worker runs
# train a tiny transformers TF BERT.
if MODE == "mirrored":
    import keras  # noqa: E402
else:
    import tf_keras as keras  # noqa: E402
from transformers import BertTokenizerFast  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from conftest import HIDDEN, VOCAB, build_hf  # noqa: E402

from gradcallback import AttributionCallback, ProbeSet  # noqa: E402

vocab = LOG_DIR.parent / f"vocab_{os.getpid()}.txt"
vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
texts = ["the movie was good", "the film was awful", "a great movie", "a terrible film"] * 4
ids = tokenizer(texts, padding="max_length", max_length=8, return_tensors="np")["input_ids"]
labels = np.array([0, 1, 0, 1] * 4)


def build_classifier(seed: int, num_classes: int):
    """Keras 3: ids -> Embedding(mask_zero) -> Dense -> masked mean -> logits. tf-keras: tiny BERT."""
    if MODE != "mirrored":
        return build_hf("bert", "classification", seed=seed)
    keras.utils.set_random_seed(seed)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(len(VOCAB), HIDDEN, mask_zero=True)(ids)
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(HIDDEN, activation="tanh")(x))
    return keras.Model(ids, keras.layers.Dense(num_classes)(x))


def train(callbacks):
    with strategy.scope():
        model = build_classifier(seed=5, num_classes=2)
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(8)
    model.fit(data, epochs=2, callbacks=callbacks, verbose=0)
    return [float(np.abs(w).sum()) for w in model.get_weights()]


probes = ProbeSet.from_texts(texts[:2], tokenizer, labels=[0, 1])
callback = AttributionCallback(probes, LOG_DIR, methods=("gradient_norm", "integrated_gradients"),
                               method_options={"integrated_gradients": {"steps": 4}}, strict=True)
with_callback = train([callback])
without = train([])
files = sorted(str(p.relative_to(LOG_DIR)) for p in LOG_DIR.rglob("*") if p.is_file()) if LOG_DIR.exists() else []
OUT.write_text(json.dumps({"with": with_callback, "without": without, "files": files,
                           "chief": callback.is_chief, "steps": sorted({s for s, _ in callback.history.get(
                               "gradient_norm", [])})}))
