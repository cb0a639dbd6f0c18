"""Long prompts on a tiny Llama 3: an attribution's peak memory against one training step's, same row.

    KERAS_BACKEND=jax python benchmarks/llm_memory.py [--out benchmarks/RESULTS.md] [--lengths 2048,8192]

A random Llama 3 (hidden 16, 1 layer, 2 heads, vocabulary 282, 8,192 positions: tests/llm_long.py) reads
one row of `length` tokens: a prompt cut to fit, then a 4-token continuation. Each configuration runs in
a fresh process and the ratio comes from one run of this script:

- attribution: `explain(..., method, target=continuation)`: the continuation's log-probability and its
  4 per-token rows (5 rows of `length` tokens);
- training step: `train_on_batch` of the same row (next-token cross-entropy, Adam).

Memory is the resident set (XLA's CPU buffers live outside Python's allocator, and on CPU
`jax.devices()[0].memory_stats()` is None): the peak above the resident set just before the call
(`/proc/self/status` VmHWM after resetting it through `/proc/self/clear_refs`, glibc's `malloc_trim`
first), once for the first call (compilation included) and once for the second (steady state).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE), str(HERE.parent / "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "jax")
CONTINUATION = [5, 6, 7, 8]  # 4 token ids: 1 + 4 rows per probe


def _status(field: str) -> float:
    """A /proc/self/status field in MiB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def peak_above_start(work) -> tuple[float, float]:
    """(peak resident MiB above the resident set at the call's start, seconds) of `work()`."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    start, clock = _status("VmRSS"), time.perf_counter()
    work()
    return _status("VmHWM") - start, time.perf_counter() - clock


def the_row(lm, length: int):
    """The Explainer, the prompt text, and the ids of the row the attribution reads (prompt + continuation)."""
    import numpy as np
    from llm_families import SENTENCES

    from gradcallback import Explainer
    from gradcallback.engine.continuations import fit_context

    lm.preprocessor.sequence_length = length
    explainer = Explainer(lm, lm.preprocessor)
    text, words = "", iter(SENTENCES * 10_000)
    while len(lm.preprocessor.tokenizer(text)) < length:  # a prompt longer than the row: cut to fit
        text += " " + " ".join(next(words) for _ in range(50))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "prompts cut from the left"
        probe = fit_context(explainer, [text], explainer.encode([text]), [np.asarray(CONTINUATION, np.int32)])[0]
    return explainer, text, probe.sequence.ids


def worker(folder: str, kind: str, length: int, method: str) -> None:
    """In a fresh process: one configuration, twice; prints RESULT + JSON."""
    import keras
    import keras_hub
    import numpy as np

    lm = keras_hub.models.CausalLM.from_preset(folder)
    explainer, text, ids = the_row(lm, length)
    assert len(ids) == length, (len(ids), length)
    found = {}
    if kind == "attribution":
        def work():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found["a"] = explainer.explain([text], method=method, target=CONTINUATION)[0]
    else:
        lm.preprocessor = None  # train on the row's ids as they are
        lm.compile(optimizer=keras.optimizers.Adam(1e-3),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x = {"token_ids": ids[None], "padding_mask": np.ones((1, length), bool)}
        y, weight = np.roll(ids, -1)[None], np.r_[np.ones(length - 1), 0.0][None].astype("float32")

        def work():
            found["loss"] = float(np.ravel(lm.train_on_batch(x, y, sample_weight=weight))[0])
    first, first_s = peak_above_start(work)
    steady, steady_s = peak_above_start(work)
    result = {"first_mib": first, "steady_mib": steady, "first_s": first_s, "steady_s": steady_s,
              "hwm_mib": _status("VmHWM"), "rows": 1 + len(CONTINUATION)}
    if kind == "attribution":
        a = found["a"]
        result.update(finite=bool(np.isfinite(a.scores).all() and np.isfinite(a.info["token_scores"]).all()),
                      tokens=len(a.token_ids) + len(a.info["target_ids"]), score=a.score,
                      rows_sum=float(np.abs(a.info["token_scores"].sum(0) - a.scores).max()))
    else:
        result.update(finite=bool(np.isfinite(found["loss"])), tokens=length)
    print("RESULT " + json.dumps(result))


def measure(folder: str, kind: str, length: int, method: str, budget: str = "after") -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", folder, kind, str(length), method, budget],
                          capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None and done.returncode == -9:
        return {"killed": True}
    if line is None:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(line[len("RESULT "):])


def row(length: int, label: str, r: dict, step: dict) -> str:
    if r.get("killed"):
        return f"| {length:,} | {label} | killed: out of memory | | | | |"
    ratio = f"{r['steady_mib'] / step['steady_mib']:.2f}x" if r is not step else "1 (reference)"
    first = f"{r['first_mib'] / step['first_mib']:.2f}x" if r is not step else "1 (reference)"
    return (f"| {length:,} | {label} | {r['steady_mib']:,.0f} MiB | {ratio} | {r['first_mib']:,.0f} MiB | {first} | "
            f"{r['steady_s']:.1f} s | {'yes' if r['finite'] else 'NO'} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--lengths", default="2048,8192")
    parser.add_argument("--before", default="2048", help="lengths also measured without row slices (rows x memory)")
    parser.add_argument("--method", default="gradient_x_input")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker[4] == "before":
            from gradcallback.engine import continuations

            continuations._row_budget = lambda *_: 10**9  # every row in one call, as before the rows were sliced
        worker(*args.worker[:2], int(args.worker[2]), args.worker[3])
        return 0
    from backends import replace_section
    from llm_long import build_long_llama

    rows = ["| tokens | configuration | peak above start, 2nd call | / training step | 1st call (compiling) | "
            "/ training step | 2nd call | finite |", "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(build_long_llama(Path(tmp) / "llama"))
        for length in [int(n) for n in args.lengths.split(",")]:
            step = measure(folder, "training", length, args.method)
            rows.append(row(length, "one training step (Adam)", step, step))
            after = measure(folder, "attribution", length, args.method)
            rows.append(row(length, f"{args.method}, continuation of 4 (5 rows)", after, step))
            if str(length) in args.before.split(","):
                before = measure(folder, "attribution", length, args.method, "before")
                rows.append(row(length, "the same, all 5 rows in one call (before)", before, step))
    section = (f"## Long prompts (causal LM)\n\n`KERAS_BACKEND=jax python benchmarks/llm_memory.py`: a random "
               "Llama 3 (hidden 16, 1 layer, 2 heads, 8,192 positions) reads one row: a prompt cut to fit and a "
               "4-token continuation. Peak resident memory above the resident set at the call's start, one "
               f"process per row, {os.cpu_count()} CPU cores (target: the attribution within 1.5x one training "
               "step on the same row).\n\n" + "\n".join(rows) + "\n")
    replace_section(Path(args.out), "## Long prompts (causal LM)", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
