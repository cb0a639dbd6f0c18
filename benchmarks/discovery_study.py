"""Discovery on real sentences, rule by rule: which ranking of shortcut candidates names the planted cue.

    python benchmarks/discovery_study.py --seeds 12 13 14 15     # tiny BERT x 11 real scenarios x 4 fresh seeds
    python benchmarks/discovery_study.py --evaluate-only         # the summary again from the runs
    python benchmarks/discovery_study.py --smoke --runs OUT --summary OUT2   # one seed, name + control_both, 2 epochs

The runs go to $XDG_CACHE_HOME/gradcallback/discovery_runs.jsonl (their tables hold the snippets' words,
which stay out of the repository); benchmarks/discovery_summary.json holds what DETECTION.md shows.

Each run trains the detection benchmark's tiny BERT (MiniLM's vocabulary) on a real-sentence scenario
(real_sentences.py) and, after every epoch, records the ground truth (the counterfactual flip rate) and
the raw material of every candidate rule: for each content word, and each adjacent pair of them, in each
probe: its share of the integrated-gradients mass (8 Gauss-Legendre points, the
monitors' pass), the drop of the explained class's probability and whether the prediction flips when
it is masked (all its pieces, [MASK]). A rule is then a pure function of that table (discovery_rules.py):
rules are compared offline, chosen on the selection half (detection_metrics.split_half: lower seed of
each scenario) and reported on the other half.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import real_sentences as real  # noqa: E402
from detection import build_model  # noqa: E402

from gradcallback import normalize_l1_share  # noqa: E402
from gradcallback.analysis.counterfactual import flip_rate  # noqa: E402
from gradcallback.analysis.discovery import content_units  # noqa: E402
from gradcallback.analysis.faithfulness import replaced  # noqa: E402

# The runs' tables hold every word of the probes (the snippets, which carry no licence): kept outside the repository.
RUNS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gradcallback" / "discovery_runs.jsonl"
SUMMARY = HERE / "discovery_summary.json"  # what DETECTION.md shows (detection.py --evaluate-only renders it)
IG = {"steps": 8}  # the monitors' integrated gradients (issue 25's default)


def unit_table(explainer, attributions, encodings, mask_id: int) -> dict:
    """unit -> [[probe, share, drop, flipped], ...]: every content word and every adjacent pair of them (a
    rule's null for a pair is masking a random pair of the same probes)."""
    jobs = []
    for i, a in enumerate(attributions):
        shares, where = normalize_l1_share(a.scores), {}
        for unit, positions in content_units(a):  # every occurrence in the probe is masked at once
            where[unit] = where.get(unit, []) + positions
        jobs += [(unit, i, positions, float(shares[positions].sum())) for unit, positions in where.items()]
    after = explainer.class_distributions([replaced(encodings[i], p, mask_id) for _, i, p, _ in jobs])
    table: dict[str, list] = {}
    for (unit, i, _, share), dist in zip(jobs, after):
        a = attributions[i]
        drop = float(a.prediction.probabilities[a.target] - dist[a.target])
        flipped = int(np.argmax(dist)) != a.prediction.label
        table.setdefault(unit, []).append([i, round(share, 5), round(drop, 5), bool(flipped)])
    return table


def run_one(name: str, seed: int, epochs: int) -> dict:
    from gradcallback import Explainer

    scenario = real.REAL_SCENARIOS[name]
    model = build_model("tiny", seed, "real")
    explainer = Explainer(model, model.preprocessor)
    probes, labels = real.probe_set(scenario, seed)
    encodings = explainer.encode(probes, "classification")
    pairs = real.counterfactual_pairs(scenario, seed)
    texts, train_labels = real.training_set(scenario, seed)
    mask_id = explainer.tokenizer.special_id("mask")
    steps = [{"flip_rate": flip_rate(explainer, *pairs)}]
    for _ in range(epochs):
        model.fit(np.array(texts), train_labels, batch_size=32, epochs=1, verbose=0)
        attributions = explainer.explain_encoded(probes, encodings, task="classification",
                                                 method="integrated_gradients", **IG)
        steps.append({"flip_rate": flip_rate(explainer, *pairs),
                      "predicted": [a.prediction.label for a in attributions],
                      "units": unit_table(explainer, attributions, encodings, mask_id)})
    return {"corpus": "real", "model": "tiny", "scenario": name, "seed": seed, "group": scenario.group,
            "labels": list(labels), "steps": steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[12, 13, 14, 15])
    parser.add_argument("--scenarios", type=lambda s: s.split(","), default=list(real.REAL_SCENARIOS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--runs", default=str(RUNS))
    parser.add_argument("--smoke", action="store_true", help="one seed, name + control_both, 2 epochs")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--summary", default=str(SUMMARY), help="the summary DETECTION.md's section is made from")
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.scenarios, args.epochs = [0], ["name", "control_both"], 2
    if not real.corpus_path():
        print(f"Expected the real sentences: {real.MISSING}", file=sys.stderr)
        return 2
    if not args.evaluate_only:
        Path(args.runs).parent.mkdir(parents=True, exist_ok=True)
        with open(args.runs, "w", encoding="utf-8") as file:
            for seed in args.seeds:  # seed-major: a run stopped midway holds whole seeds
                for name in args.scenarios:
                    t0 = time.perf_counter()
                    record = run_one(name, seed, args.epochs)
                    record["seconds"] = round(time.perf_counter() - t0, 1)
                    file.write(json.dumps(record) + "\n")
                    file.flush()
                    rates = " ".join(f"{s['flip_rate']:.2f}" for s in record["steps"])
                    print(f"{name} seed {seed}: {record['seconds']} s, flip rates {rates}", file=sys.stderr,
                          flush=True)
    from discovery_rules import section, summarize

    runs = [json.loads(line) for line in Path(args.runs).read_text(encoding="utf-8").splitlines()]
    summary = summarize(runs)
    Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(section(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
