"""A logged step's cost: each (method, options) pass once per step, shared by the images and the monitors."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from conftest import build_functional_classifier

from gradcallback import AttributionCallback, Drift, Faithfulness, ProbeSet, SpuriousGroups
from gradcallback.engine.explain import Explainer

TEXTS = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]


@pytest.fixture
def engine_calls(monkeypatch):
    """(method, steps option) -> how many times the engine was asked for it."""
    calls: Counter = Counter()
    original = Explainer.explain_encoded

    def counted(self, *args, method, **options):
        calls[(method, options.get("steps"))] += 1
        return original(self, *args, method=method, **options)

    monkeypatch.setattr(Explainer, "explain_encoded", counted)
    return calls


def monitors(method: str) -> list:
    return [SpuriousGroups({"film": ["film"]}, method=method), Drift(method=method)]


def test_two_monitors_and_the_images_on_one_method_share_one_pass(tmp_path, hf_tokenizer, engine_calls):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 4}},
                                   monitors=monitors("integrated_gradients"))
    model = build_functional_classifier(seed=1)
    for step in (0, 1, 2):
        callback.log_now(step, model=model)
    callback.close()
    assert engine_calls == {("gradient_norm", None): 3, ("integrated_gradients", 4): 3}


def test_monitor_options_give_the_monitors_one_pass_of_their_own(tmp_path, hf_tokenizer, engine_calls):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("integrated_gradients",),
                                   method_options={"integrated_gradients": {"steps": 4, "every": 2}},
                                   monitor_options={"integrated_gradients": {"steps": 2}},
                                   monitors=monitors("integrated_gradients"))
    model = build_functional_classifier(seed=1)
    for step in (0, 1, 2):
        callback.log_now(step, model=model)
    assert [a.info["steps"] for a in callback.monitors[1].first] == [2] * len(TEXTS)
    callback.close()
    # The images' pass at steps 0 and 2 (every 2), the monitors' own at every step.
    assert engine_calls == {("integrated_gradients", 4): 2, ("integrated_gradients", 2): 3}


@pytest.mark.parametrize("options, message", [
    ({"gradient_norm": {}}, "methods the monitors read"),
    ({"integrated_gradients": {"every": 2}}, "take no `every`"),
    ({"integrated_gradients": {"stpes": 2}}, "stpes"),
])
def test_monitor_options_are_checked_in_the_constructor(tmp_path, hf_tokenizer, options, message):
    with pytest.raises(ValueError, match=message):
        AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, monitor_options=options,
                            monitors=monitors("integrated_gradients"))


def test_identical_perturbed_inputs_run_once(hf_tokenizer):
    """Faithfulness asks for the same variant under several names (comprehensiveness@1 and AOPC's 1% bin):
    forward passes run each distinct input once, and every caller gets its row back."""
    from gradcallback.engine.heads import HEADS
    from gradcallback.engine.score import score_function

    explainer = Explainer(build_functional_classifier(seed=2), hf_tokenizer)
    encodings = explainer.encode(TEXTS, "classification")
    alone = explainer.class_distributions(encodings)
    function = score_function(explainer.adapter, HEADS["class"], explainer.jit_compile)
    rows = function.rows
    repeated = explainer.class_distributions([encodings[i] for i in (2, 0, 2, 1, 0, 3, 3)])
    assert function.rows - rows == 4
    np.testing.assert_allclose(repeated, alone[[2, 0, 2, 1, 0, 3, 3]], rtol=1e-6)


def read_records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def logged_steps(run_dir, tag: str) -> list[int]:
    from gradcallback.io.runs import read_run

    return sorted(read_run(run_dir).scalars.get(tag, {}))


def test_a_budget_the_step_cannot_meet_thins_the_expensive_monitors_and_says_so(tmp_path, hf_tokenizer, capsys):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm",), budget=1e-9, verbose=True,
                                   monitors=[Faithfulness(method="gradient_norm"), Drift(method="gradient_norm")])
    model = build_functional_classifier(seed=1)
    with pytest.warns(UserWarning, match=r"budget 1e-09 s .*drift, faithfulness.* one logged step in 16"):
        for step in range(5):
            callback.log_now(step, model=model)
    callback.close()
    # Steps 0 and 1 run everything (the first compiles); then the thinned monitors wait for index 16.
    assert logged_steps(callback.run_dir, "faithfulness/gradient_norm/aopc") == [0, 1]
    assert logged_steps(callback.run_dir, "gradient_norm/special_token_share") == [0, 1, 2, 3, 4]  # never blocked
    notes = [r for r in read_records(callback.run_dir) if r.get("kind") == "alert" and r["monitor"] == "budget"]
    assert [(n["step"], n["action"], n["value"]) for n in notes] == [(1, "note", 16)]
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("gradcallback step") and ": explaining" not in line]  # the step lines, not step 0's
    assert len(lines) == 5                                                          # "what I am doing" line
    assert "budget" not in lines[0] and all("drift, faithfulness every 16 logged steps" in x for x in lines[1:])


def test_a_budget_the_step_meets_changes_nothing(tmp_path, hf_tokenizer):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm",), budget=3600,
                                   monitors=[Faithfulness(method="gradient_norm")])
    model = build_functional_classifier(seed=1)
    for step in range(4):
        callback.log_now(step, model=model)
    callback.close()
    assert logged_steps(callback.run_dir, "faithfulness/gradient_norm/aopc") == [0, 1, 2, 3]
    assert callback.budget.period == 1 and callback.budget.describe() is None


def test_a_share_budget_is_a_share_of_the_training_time_between_logged_steps():
    from gradcallback.monitors.schedule import StepBudget

    budget = StepBudget("5%")
    budget.began([])
    assert budget.limit() is None  # nothing trained yet: nothing to take a share of
    assert budget.done(0, 1.0, {"faithfulness": 0.5}) == []
    budget._ended -= 100.0  # as if 100 s of training had passed since the step ended
    budget.began([])
    assert 5.0 <= budget.limit() < 5.5
    with pytest.warns(UserWarning, match="one logged step in 2"):
        (note,) = budget.done(1, 9.0, {"faithfulness": 8.0})  # 1 s besides it leaves 4 s: every 2nd step
    assert budget.period == 2 and "faithfulness" in note.message and note.limit == budget.limit()


@pytest.mark.parametrize("budget", [0, -1, "fast", "0%", "150%", True])
def test_budget_is_checked_in_the_constructor(tmp_path, hf_tokenizer, budget):
    with pytest.raises(ValueError, match=r"Expected budget .* Received: budget="):
        AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, budget=budget)


def test_the_demos_configuration_runs_one_8_point_ig_pass_for_the_images_and_every_monitor(
        tmp_path, hf_tokenizer, engine_calls):
    from gradcallback.cli import demo
    from gradcallback.monitors.base import RECOMMENDED_IG_OPTIONS

    texts = ["atiku said the movie was good", "the film was awful", "atiku liked a great movie", "a terrible film"]
    probes = ProbeSet.from_texts(texts, hf_tokenizer, labels=[1, 0, 1, 0])
    callback = demo.make_callback(probes, str(tmp_path), 1, texts, verbose=False)
    assert RECOMMENDED_IG_OPTIONS == {"steps": 8}  # benchmarks/DETECTION.md's cheapest setting keeping the alerts
    assert all(m.method in (None, "integrated_gradients") for m in callback.monitors)
    model = build_functional_classifier(seed=1)
    for step in (0, 1):
        callback.log_now(step, model=model)
    callback.close()
    assert engine_calls == {("gradient_norm", None): 2, ("integrated_gradients", 8): 2}


def test_integrated_gradients_takes_f_at_the_input_from_the_steps_gradient_norm_pass(hf_tokenizer):
    """Inside `remembering` (the callback's step), the gradient_norm pass's evaluation at the probes is
    integrated gradients' f(x): one forward row fewer a probe, and the same attributions to the bit."""
    explainer = Explainer(build_functional_classifier(seed=2), hf_tokenizer)
    encodings = explainer.encode(TEXTS, "classification")
    run = lambda method, **o: explainer.explain_encoded(TEXTS, encodings, task="classification",  # noqa: E731
                                                        method=method, **o)
    functions = explainer.adapter.__dict__.setdefault("_score_functions", {})
    rows = lambda: sum(f.rows for f in functions.values())  # noqa: E731
    run("gradient_norm")
    before = rows()
    alone = run("integrated_gradients", steps=4)
    alone_rows, before = rows() - before, rows()
    with explainer.remembering() as memo:
        run("gradient_norm")
        between = rows()
        shared = run("integrated_gradients", steps=4)
    assert memo.hits == 1 and alone_rows == len(TEXTS) * (4 + 2) and rows() - between == len(TEXTS) * (4 + 1)
    assert between - before == len(TEXTS)  # the gradient_norm pass itself: one gradient row a probe
    for a, b in zip(alone, shared):
        assert np.array_equal(a.scores, b.scores) and a.convergence_delta == b.convergence_delta
        assert a.score == b.score and np.array_equal(a.prediction.probabilities, b.prediction.probabilities)
    with explainer.remembering() as memo:  # other inputs (a fresh memo each step): nothing is taken
        run("integrated_gradients", steps=4)
    assert memo.hits == 0


def test_a_logged_step_remembers_its_passes_evaluations(tmp_path, hf_tokenizer, monkeypatch):
    from gradcallback.engine.score import InputMemo

    found = []
    original = InputMemo.find
    monkeypatch.setattr(InputMemo, "find", lambda self, *a: found.append(original(self, *a)) or found[-1])
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path,
                                   methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 4}})
    callback.log_now(0, model=build_functional_classifier(seed=1))
    callback.close()
    assert [f is not None for f in found] == [True, False]  # f(x) from the gradient_norm pass; f(baseline) run
