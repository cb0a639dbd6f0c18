"""What a logged step costs, part by part, in gradient passes of the probe set and in seconds.

    python benchmarks/step_cost.py [--probes 24 128] [--configs demo readme] [--backends tensorflow jax torch]
    python benchmarks/step_cost.py --tiny --probes 8 --backends tensorflow --out /tmp/r.md   # smoke run

MiniLM (keras-hub `from_preset` of the local checkpoint), one process per backend. A callback in the
demo's configuration (`gradcallback.cli.demo.make_callback`: gradient_norm and 8-point IG written,
VocabularyCheck, SpuriousGroups, ShortcutDiscovery, Faithfulness) or the README's recommended one (the same
methods; four groups, discovery, faithfulness, vocabulary, Drift) logs a first step and warm steps with
`log_now`; every part's exclusive time is taken by wrapping the function that does it, and the unit is
one gradient_norm pass over the same probes, timed in the same process. The step's share of an epoch
comes from `fit`'s measured time per batch of 16, scaled to 1,000, 10,000 and 100,000 examples.
Writes the "Step cost" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
BACKENDS = ("tensorflow", "jax", "torch")
EXAMPLES = (1_000, 10_000, 100_000)
BATCH = 16
PART_ORDER = ("gradient_norm pass", "integrated_gradients pass", "discovery", "delete-vs-mask", "faithfulness",
              "spurious groups", "drift", "vocabulary", "images", "payload", "writing")


class PartTimer:
    """Exclusive seconds per part: a part's time excludes the wrapped parts that run inside it."""

    def __init__(self):
        self.seconds, self.calls, self._stack, self._names = defaultdict(float), defaultdict(int), [], []
        self.rows: dict = defaultdict(lambda: {"forward": 0, "gradient": 0})

    def wrap(self, owner, attr: str, part) -> None:
        """Time `owner.attr` as `part` (a name, or a function of the call's arguments giving one)."""
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            name = part(*args, **kwargs) if callable(part) else part
            self._stack.append(0.0)
            self._names.append(name)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                inner = self._stack.pop()
                self._names.pop()
                self.seconds[name] += spent - inner
                self.calls[name] += 1
                if self._stack:
                    self._stack[-1] += spent

        setattr(owner, attr, timed)

    def count_rows(self, owner, attr: str, kind: str) -> None:
        """Count the rows `owner.attr` evaluates (its first argument: how many) under the part running it."""
        original = getattr(owner, attr)

        @functools.wraps(original)
        def counted(bound, rows: int, *args, **kwargs):
            self.rows[self._names[-1] if self._names else "not in a part"][kind] += rows
            return original(bound, rows, *args, **kwargs)

        setattr(owner, attr, counted)

    def take(self) -> dict:
        taken = {"seconds": dict(self.seconds), "calls": dict(self.calls), "rows": dict(self.rows)}
        self.seconds, self.calls = defaultdict(float), defaultdict(int)
        self.rows = defaultdict(lambda: {"forward": 0, "gradient": 0})
        return taken


def instrument(timer: PartTimer, callback) -> None:
    """Wrap the functions that do each part of a logged step (classes and module names the monitors call)."""
    from gradcallback import summaries
    from gradcallback.engine import explain, score
    from gradcallback.monitors import perturbation

    timer.wrap(explain.Explainer, "explain_encoded", lambda *a, method, **k: f"{method} pass")
    timer.wrap(perturbation, "shortcut_candidates", "discovery")
    timer.wrap(perturbation, "delete_vs_mask", "delete-vs-mask")
    timer.wrap(perturbation, "faithfulness", "faithfulness")
    # rows the backend runs (a forward the step's memo answers is none): a cost that no machine load changes
    timer.count_rows(score.BoundScore, "_forward", "forward")
    timer.count_rows(score.BoundScore, "_forward_and_grad", "gradient")
    timer.wrap(summaries.StepLogger, "_images", "images")
    timer.wrap(summaries.StepLogger, "log_dashboard", "payload")
    for name in ("log_method", "log_predictions", "log_alerts", "flush", "log_probes"):
        timer.wrap(summaries.StepLogger, name, "writing")
    parts = {"SpuriousGroups": "spurious groups", "Drift": "drift", "VocabularyCheck": "vocabulary",
             "ShortcutDiscovery": "discovery", "Faithfulness": "faithfulness"}
    for monitor in callback.monitors:  # what a monitor does besides the wrapped analyses: its own writing
        timer.wrap(monitor, "log", parts.get(type(monitor).__name__, type(monitor).__name__))


def load(tiny: bool):
    """The classifier the backends benchmark measures (MiniLM, or a tiny random BERT)."""
    from backends import load as backends_load  # beside this script

    return backends_load(tiny)


def probe_set(classifier, n: int):
    """n probes from the demo's data (its probe split, then its training split), with labels."""
    from gradcallback import ProbeSet
    from gradcallback.cli.demo import load_data

    data = load_data()
    texts, labels = data["probe"][0] + data["train"][0], data["probe"][1] + data["train"][1]
    return ProbeSet.from_texts(texts[:n], classifier.preprocessor, labels=labels[:n])


def make_callback(config: str, probes, logdir: str):
    """The demo's configuration, or the README's recommended one (its monitors list, with Drift)."""
    import re

    from gradcallback import AttributionCallback
    from gradcallback.cli import demo
    from gradcallback.monitors import Drift, Faithfulness, ShortcutDiscovery, SpuriousGroups, VocabularyCheck
    from gradcallback.monitors.base import RECOMMENDED_IG_OPTIONS

    if config == "demo":
        return demo.make_callback(probes, logdir, 1, demo.load_data()["train"][0], verbose=False)
    names = [n for n in demo.NAMES if any(n in t.lower() for t in probes.inputs)] or ["atiku"]
    return AttributionCallback(
        probes, log_dir=logdir, methods=("gradient_norm", "integrated_gradients"),
        method_options={"integrated_gradients": dict(RECOMMENDED_IG_OPTIONS)},
        monitors=[SpuriousGroups({"names": names, "punctuation": re.compile(r"^\W+$"), "special": "special_tokens"},
                                 on_alert="stop", patience=2),
                  ShortcutDiscovery(), Faithfulness(), VocabularyCheck(terms=["Atiku"]), Drift()])


def gradient_pass(callback) -> float:
    """Seconds of one gradient_norm pass over the callback's probes."""
    start = time.perf_counter()
    callback._explainer.explain_encoded(callback.probes.inputs, callback._encodings, task="classification",
                                        method="gradient_norm")
    return time.perf_counter() - start


def measure_steps(callback, timer: PartTimer, warm: int, repeats: int) -> dict:
    """The first logged step and `warm` later ones (wall seconds, exclusive seconds and rows per part), and
    the median gradient pass: `repeats` timed after each warm step, and the step's own gradient_norm pass."""
    steps, units = [], []
    for step in range(warm + 1):
        timer.take()
        start = time.perf_counter()
        callback.log_now(step, epoch=step)
        total = time.perf_counter() - start
        steps.append({"total_s": total, **timer.take()})
        if step:  # the step's own gradient_norm pass is one more sample, taken at the same moment
            units += [gradient_pass(callback) for _ in range(repeats)] + \
                [steps[-1]["seconds"][p] for p in ["gradient_norm pass"] if p in steps[-1]["seconds"]]
    return {"first": steps[0], "warm": steps[1:], "unit_s": statistics.median(units), "unit_samples": units}


def batch_seconds(classifier, tiny: bool) -> float:
    """Seconds per training batch of 16 in `fit` (the second epoch of two: the first compiles)."""
    import keras
    import tensorflow as tf

    from gradcallback.cli.demo import load_data

    texts, labels = load_data()["train"]
    batches = 2 if tiny else 12
    texts, labels = texts[:BATCH * batches], labels[:BATCH * batches]
    classifier.compile(optimizer=keras.optimizers.Adam(1e-5), loss=keras.losses.SparseCategoricalCrossentropy(True))
    data = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(BATCH)
    seen = []
    stamp = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(time.perf_counter()),
                                           on_epoch_end=lambda e, logs: seen.append(time.perf_counter()))
    classifier.fit(data, epochs=2, callbacks=[stamp], verbose=0)
    return (seen[3] - seen[2]) / batches


def worker(args) -> None:
    """One cell (backend, configuration, probes) in a fresh process: its first step is a cold one."""
    import keras

    classifier = load(args.tiny)
    timer = PartTimer()
    callback = make_callback(args.configs[0], probe_set(classifier, args.probes[0]), tempfile.mkdtemp())
    instrument(timer, callback)
    opened = time.perf_counter()
    callback.open(classifier)
    open_s = time.perf_counter() - opened
    steps = measure_steps(callback, timer, args.warm, args.repeats)
    callback.close()
    result = {"backend": keras.backend.backend(), "config": args.configs[0], "probes": args.probes[0],
              "open_s": open_s, **steps}
    if args.fit:
        result["batch_s"] = batch_seconds(classifier, args.tiny)
    print("RESULT " + json.dumps(result))


def warm_parts(result: dict) -> dict:
    """Median exclusive seconds per part over the warm steps, and the median warm total."""
    warm = result["warm"]
    names = {p for s in warm for p in s["seconds"]}
    parts = {p: statistics.median(s["seconds"].get(p, 0.0) for s in warm) for p in names}
    return {"parts": parts, "total_s": statistics.median(s["total_s"] for s in warm)}


def accounting(result: dict) -> float:
    """How far the parts' sum is from the measured warm step, as a share of the step."""
    w = warm_parts(result)
    return abs(sum(w["parts"].values()) - w["total_s"]) / w["total_s"]


def part_table(result: dict) -> str:
    w, unit = warm_parts(result), result["unit_s"]
    first = result["first"]["seconds"]
    counted, n = result["warm"][-1].get("rows", {}), result["probes"]
    rows = ["| part | warm step: seconds | gradient passes | share of the step | first step: seconds "
            "| rows per probe: forward + gradient |", "|---|---:|---:|---:|---:|---:|"]
    order = [p for p in PART_ORDER if p in w["parts"]] + sorted(set(w["parts"]) - set(PART_ORDER))
    for part in order:
        s = w["parts"][part]
        c = counted.get(part, {"forward": 0, "gradient": 0})
        rows.append(f"| {part} | {s:.2f} | {s / unit:.1f} | {100 * s / w['total_s']:.0f}% | {first.get(part, 0):.2f} "
                    f"| {c['forward'] / n:.1f} + {c['gradient'] / n:.1f} |")
    other = w["total_s"] - sum(w["parts"].values())
    first_other = result["first"]["total_s"] - sum(first.values())
    forward, gradient = (sum(c[k] for c in counted.values()) / n for k in ("forward", "gradient"))
    rows.append(f"| not in a part | {other:.2f} | {other / unit:.1f} | {100 * other / w['total_s']:.0f}% | "
                f"{first_other:.2f} | |")
    rows.append(f"| **logged step** | **{w['total_s']:.2f}** | **{w['total_s'] / unit:.1f}** | 100% | "
                f"**{result['first']['total_s']:.2f}** (and `open` {result['open_s']:.2f}) | "
                f"**{forward:.1f} + {gradient:.1f}** |")
    return "\n".join(rows)


def summary_table(results: list[dict], batch_s: dict) -> str:
    head = " | ".join(f"share of an epoch of {n:,}" for n in EXAMPLES)
    rows = [f"| backend | config | probes | gradient pass | first step | warm step | warm step, gradient passes "
            f"| {head} |", "|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(EXAMPLES)]
    for r in results:
        w = warm_parts(r)
        shares = " | ".join(f"{100 * w['total_s'] / (n / BATCH * batch_s[r['backend']]):.1f}%" for n in EXAMPLES)
        rows.append(f"| {r['backend']} | {r['config']} | {r['probes']} | {r['unit_s']:.3f} s | "
                    f"{r['first']['total_s'] + r['open_s']:.1f} s | {w['total_s']:.1f} s | "
                    f"{w['total_s'] / r['unit_s']:.1f} | {shares} |")
    return "\n".join(rows)


def section(results: list[dict], batch_s: dict, command: str) -> str:
    lines = ["## Step cost", "", f"`{command}`: a logged step with `log_now`, {os.cpu_count()} CPU cores; "
             "seconds are medians over the warm steps; one gradient pass = one gradient_norm pass over the same "
             "probes, timed after each warm step in the same process (one process per row: every first step is "
             "cold). The first step includes `open` (at `on_train_begin`). Epoch "
             "shares: the warm step / (examples / 16 x the measured seconds per batch of 16 in `fit`: "
             + ", ".join(f"{b} {s:.3f} s" for b, s in batch_s.items()) + ").", "", summary_table(results, batch_s),
             ""]
    for r in results:
        lines += [f"### {r['backend']}, {r['config']} configuration, {r['probes']} probes", "", part_table(r), ""]
    return "\n".join(lines)


def run_cell(args, backend: str, config: str, probes: int, fit: bool) -> dict:
    # strict: a part that fails must not pass for a cheap one (the tiny vocabulary lacks the demo's names)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               GRADCALLBACK_STRICT="0" if args.tiny else "1")
    command = [sys.executable, __file__, "--worker", "--warm", str(args.warm), "--repeats", str(args.repeats),
               "--probes", str(probes), "--configs", config] + (["--tiny"] if args.tiny else []) + \
        (["--fit"] if fit else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{backend} {config} {probes} failed:\n{done.stderr[-3000:]}")
    result = json.loads(line[len("RESULT "):])
    print(f"{backend} {config} {probes}: first {result['first']['total_s']:.1f} s, warm "
          f"{result['warm'][-1]['total_s']:.1f} s, gradient pass {result['unit_s']:.3f} s", file=sys.stderr,
          flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, nargs="+", default=[24, 128])
    parser.add_argument("--configs", nargs="+", default=["demo", "readme"], choices=["demo", "readme"])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--warm", type=int, default=2, help="warm logged steps after the first")
    parser.add_argument("--repeats", type=int, default=2, help="gradient passes timed after each warm step")
    parser.add_argument("--tiny", action="store_true", help="a tiny random keras-hub BERT (smoke test)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    results, batch_s = [], {}
    for backend in args.backends:
        for n in args.probes:
            for config in args.configs:
                result = run_cell(args, backend, config, n, fit=backend not in batch_s)
                batch_s.setdefault(backend, result.pop("batch_s", None))
                results.append(result)
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": results, "batch_s": batch_s}, indent=1))
    from backends import replace_section

    text = section(results, batch_s, "python benchmarks/step_cost.py " + " ".join(sys.argv[1:]))
    replace_section(Path(args.out), "## Step cost", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
