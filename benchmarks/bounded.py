"""Bounded output: a 10,000-step custom training loop logging every 10 steps on a tiny model.

    python benchmarks/bounded.py [--steps 10000] [--every 10] [--out benchmarks/RESULTS.md]

Memory (resident set size) and event-file bytes per logged step near the start and at the end of
the run: the callback keeps only what the next step needs (the first logged step and the latest
`Display.evolution_steps`), so both should stay flat (target: within 10%). Writes the "Bounded
output" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests"), str(HERE)]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def event_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.glob("events.out.tfevents.*"))


def run(steps: int, every: int) -> dict:
    import keras
    from conftest import VOCAB, build_functional_classifier
    from transformers import BertTokenizerFast

    from gradcallback import AttributionCallback, ProbeSet

    folder = Path(tempfile.mkdtemp())
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    model = build_functional_classifier(seed=0, num_classes=2)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.SparseCategoricalCrossentropy(True))
    texts = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]
    x, y = tokenizer(texts, padding=True, return_tensors="np")["input_ids"], np.array([0, 1, 0, 1])
    callback = AttributionCallback(ProbeSet.from_texts(texts, tokenizer), folder / "logs", every_n_steps=every)
    sizes, memory = [], []
    for step in range(steps + 1):
        if step % every == 0:
            callback.log_now(step, model=model)
            sizes.append(event_bytes(callback.run_dir))
            memory.append(rss_mib())
        model.train_on_batch(x, y)
    callback.close()
    return {"sizes": np.array(sizes), "memory": np.array(memory), "logged": len(sizes)}


def figures(result: dict) -> dict:
    per_step = np.diff(result["sizes"])
    window = max(10, len(per_step) // 20)  # 5% of the run, after the evolution window has filled
    early, late = per_step[60: 60 + window], per_step[-window:]
    return {"bytes_early": early.mean(), "bytes_late": late.mean(),
            "rss_early": result["memory"][60: 60 + window].max(), "rss_late": result["memory"][-window:].max()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    from backends import replace_section

    result = run(args.steps, args.every)
    f = figures(result)
    bytes_change, rss_change = f["bytes_late"] / f["bytes_early"] - 1, f["rss_late"] / f["rss_early"] - 1
    section = (
        f"## Bounded output\n\n`python benchmarks/bounded.py`: a {args.steps:,}-step custom loop logging every "
        f"{args.every} steps ({result['logged']} logged steps), tiny Keras model, 4 probes, default display "
        "(evolution images show the first and the latest 50 logged steps).\n\n"
        "| | after ~60 logged steps | at the end | change | target |\n|---|---|---|---|---|\n"
        f"| event-file bytes per logged step | {f['bytes_early']:,.0f} | {f['bytes_late']:,.0f} | "
        f"{100 * bytes_change:+.1f}% | within 10% |\n"
        f"| resident memory (MiB) | {f['rss_early']:.0f} | {f['rss_late']:.0f} | {100 * rss_change:+.1f}% | "
        "within 10% |\n")
    replace_section(Path(args.out), "## Bounded output", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
