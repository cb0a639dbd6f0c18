"""The alert statistic, rule by rule, on fresh seeds: which statistic of a watched group earns a margin on
real and synthetic sentences alike (issue 23's "margin >= 0.1, or a statistic that earns a wider one").

    python benchmarks/alert_study.py --seeds 16 17 18 19          # both corpora, tiny BERT, + MiniLM seeds 16, 17
    python benchmarks/alert_study.py --seeds 20 21 22 23 --runs benchmarks/alert_runs_masking.jsonl
                                                                  # the same, and the group's masking effect
    python benchmarks/alert_study.py --seeds 24 25 26 27 --runs benchmarks/alert_runs_stretch.jsonl
                                                                  # the same, and the length check's stretch
    python benchmarks/alert_study.py --evaluate-only              # the tables again from the runs (alert_rules.py)
    python benchmarks/alert_study.py --smoke --runs OUT           # real sentences, one seed, name + control, 2 epochs

Each run trains the detection benchmark's model (detection.build_model) on a scenario and, at every logged
step, records the ground truth (the counterfactual flip rate) and, for the watched group, every statistic
a rule could read, from integrated gradients at the engine's default (32 Gauss-Legendre points: what
`SpuriousGroups` reads unless told otherwise) and at 8 points (the demo's and README's
`RECOMMENDED_IG_OPTIONS`): the share over all probes and where present, the chance share, the null's z
(detection_stats.null_z), and the group's *outrank* rate (gradcallback.analysis.groups.outrank: how often a
word of the group outranks another word of its probe; 0.5 is chance at any length). For the length check,
the signed change of each class's probability when a set of tokens is deleted rather than masked
(gradcallback.analysis.discovery.deletion_sets), summarised per step. From seed 20 on, also what the
prediction does when the group is masked (gradcallback.analysis.reliance.masking_effect: a behavioural
statistic, next to the attribution ones). From seed 24 on, the length check's *stretch*: the same quiet
tokens deleted against doubled (stretch_figures). Records hold numbers only (no
snippet text): benchmarks/alert_runs.jsonl. The candidate rules and the order of choice are fixed in
alert_rules.py before these seeds were run.
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
from detection import CORPORA, MINILM_SCENARIOS, chance_share, prepared  # noqa: E402
from detection_stats import null_z  # noqa: E402

from gradcallback.adapters.tokenizers import Encoding  # noqa: E402
from gradcallback.analysis.counterfactual import flip_rate  # noqa: E402
from gradcallback.analysis.discovery import DeletionSets, deletion_sets  # noqa: E402
from gradcallback.analysis.groups import (  # noqa: E402
    check_groups,
    group_shares,
    outrank_where_present,
    share_where_present,
)
from gradcallback.analysis.reliance import masking_effect  # noqa: E402

RUNS = HERE / "alert_runs.jsonl"
PASSES = {"reference": {}, "steps_8": {"steps": 8}}  # the engine's default, and RECOMMENDED_IG_OPTIONS
EPOCHS = {"synthetic": 6, "real": 5, "minilm": 2}


def group_figures(attributions: list, spec) -> dict:
    """Every statistic of the watched group a rule could read, from one pass."""
    return {"overall": float(group_shares(attributions, spec).mean()),
            "where_present": share_where_present(attributions, spec) or 0.0,
            "chance": chance_share(attributions, spec),
            "outrank": outrank_where_present(attributions, spec) or 0.5,
            **null_z(attributions, spec)}


def length_figures(explainer, attributions: list, encodings: list, mask_id: int) -> dict:
    """The delete-vs-mask gap (as the monitor computes it) and a signed, model-free alternative: per class,
    the z of the mean change of its probability when a set is deleted rather than masked (a model that
    reads length moves one way whatever the words; one that does not, either way): its size and its z."""
    sets = deletion_sets(attributions, encodings, replacement=mask_id)
    masked, deleted, owner = sets.masked, sets.deleted, sets.owner
    if not owner:
        return {"gap": 0.0, "direction": 0.0, "direction_z": 0.0, "sets": 0}
    p_masked, p_deleted = explainer.class_distributions(masked), explainer.class_distributions(deleted)
    targets = np.array([attributions[i].target for i in owner])
    p0 = np.array([attributions[i].prediction.probabilities[attributions[i].target] for i in owner])
    rows = np.arange(len(owner))
    gap = float(np.mean(np.abs(p0 - p_deleted[rows, targets])) - np.mean(np.abs(p0 - p_masked[rows, targets])))
    change = p_deleted - p_masked  # [sets, classes]
    se = change.std(axis=0, ddof=1) / np.sqrt(len(owner)) if len(owner) > 1 else np.ones(change.shape[1])
    z = np.abs(change.mean(axis=0)) / np.maximum(se, 1e-12)
    return {"gap": gap, "direction": float(np.abs(change.mean(axis=0)).max()), "direction_z": float(z.max()),
            "sets": len(owner), **stretch_figures(explainer, encodings, sets)}


def doubled(encoding: Encoding, drop: np.ndarray) -> Encoding:
    """`encoding` with each dropped token written twice where it stands: as many tokens longer as deleting
    them makes it shorter."""
    times = 1 + drop.astype(int)
    return Encoding(np.repeat(encoding.ids, times), np.repeat(encoding.segment_ids, times),
                    np.repeat(encoding.special_mask, times), np.repeat(encoding.context_mask, times))


def stretch_figures(explainer, encodings: list, sets: DeletionSets) -> dict:
    """The same quiet tokens deleted against doubled: per class, the mean over the probes of each probe's
    mean change of its probability (doubled - deleted), its size and its z over the probes. Sets whose
    doubled text would pass the model's length are left out (`stretch_sets`)."""
    limit = explainer.max_length or 1 << 30
    kept = [k for k, i in enumerate(sets.owner) if len(encodings[i].ids) + int(sets.drops[k].sum()) <= limit]
    if not kept:
        return {"stretch": 0.0, "stretch_z": 0.0, "stretch_sets": 0}
    longer = [doubled(encodings[sets.owner[k]], sets.drops[k]) for k in kept]
    change = explainer.class_distributions(longer) - explainer.class_distributions([sets.deleted[k] for k in kept])
    owner = np.array([sets.owner[k] for k in kept])
    per_probe = np.array([change[owner == i].mean(axis=0) for i in np.unique(owner)])  # [probes, classes]
    mean = per_probe.mean(axis=0)  # [classes]
    se = per_probe.std(axis=0, ddof=1) / np.sqrt(len(per_probe)) if len(per_probe) > 1 else np.ones_like(mean)
    return {"stretch": float(np.abs(mean).max()), "stretch_z": float((np.abs(mean) / np.maximum(se, 1e-12)).max()),
            "stretch_sets": len(kept)}


def measure(explainer, probes, encodings, spec, pairs, mask_id: int) -> dict:
    """One logged step: the flip rate, each pass's group figures, the length figures (the 8-point pass)."""
    out = {"flip_rate": flip_rate(explainer, *pairs)}
    for name, options in PASSES.items():
        attributions = explainer.explain_encoded(probes, encodings, task="classification",
                                                 method="integrated_gradients", **options)
        out[name] = group_figures(attributions, spec)
    out["length"] = length_figures(explainer, attributions, encodings, mask_id)
    masking = masking_effect(explainer, attributions, encodings, spec, replacement=mask_id)
    out["masking"] = {"mask_change": masking["change"], "mask_z": masking["z"], "mask_flips": masking["flips"],
                      "probes": masking["probes"], "null_mean": masking["null_mean"], "null_sd": masking["null_sd"]}
    return out


def run_one(kind: str, corpus: str, name: str, seed: int, epochs: int) -> dict:
    run = prepared(kind, name, seed, corpus)
    spec = check_groups({"watched": run.scenario.group})["watched"]
    steps = []
    for epoch in range(epochs + 1):
        if epoch:
            run.model.fit(np.array(run.texts), run.labels, batch_size=32, epochs=1, verbose=0)
        steps.append(measure(run.explainer, run.probes, run.encodings, spec, run.pairs, run.mask_id))
    return {"corpus": corpus, "model": kind, "scenario": run.scenario.name, "seed": seed, "steps": steps}


def plan(args: argparse.Namespace) -> list[tuple[str, str, str, int]]:
    """Seed-major, both corpora: a run stopped midway still holds whole seeds of every scenario."""
    if args.smoke:
        return [("tiny", "real", name, args.seeds[0]) for name in ("name", "control_both")]
    runs = [("tiny", corpus, name, seed) for seed in args.seeds for corpus in ("real", "synthetic")
            for name in CORPORA[corpus][1]]
    return runs + [("minilm", "real", name, seed) for seed in args.seeds[:args.minilm_seeds]
                   for name in MINILM_SCENARIOS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[16, 17, 18, 19])
    parser.add_argument("--minilm-seeds", type=int, default=2, help="MiniLM runs on the first this many seeds")
    parser.add_argument("--runs", default=str(RUNS))
    parser.add_argument("--append", action="store_true", help="keep the runs file's records and add these")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--evaluate-only", action="store_true")
    args = parser.parse_args()
    if not args.evaluate_only:
        if not real.corpus_path():
            print(f"Expected the real sentences: {real.MISSING}", file=sys.stderr)
            return 2
        with open(args.runs, "a" if args.append else "w", encoding="utf-8") as file:
            for kind, corpus, name, seed in plan(args):
                t0 = time.perf_counter()
                epochs = 2 if args.smoke else EPOCHS["minilm" if kind == "minilm" else corpus]
                record = run_one(kind, corpus, name, seed, epochs)
                record["seconds"] = round(time.perf_counter() - t0, 1)
                file.write(json.dumps(record) + "\n")
                file.flush()
                print(f"{corpus} {kind} {name} seed {seed}: {record['seconds']} s, flip rates "
                      + " ".join(f"{s['flip_rate']:.2f}" for s in record["steps"]), file=sys.stderr, flush=True)
    from alert_rules import report

    runs = [json.loads(line) for line in Path(args.runs).read_text(encoding="utf-8").splitlines()]
    print(report(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
