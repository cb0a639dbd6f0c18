"""Causal LMs: continuation targets on keras-hub families loaded from local Hugging Face folders,
against Captum 0.9's LLMGradientAttribution on the PyTorch original of the same weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from llm_families import FAMILIES, torch_model

from gradcallback import explain

PROMPT = "The capital of France is"
PROMPTS = [PROMPT, "The cat sat on"]
CONTINUATIONS = [" Paris.", " the mat"]


def _rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def _reference_logprobs(model, ids: np.ndarray, first: int) -> np.ndarray:
    """log p(ids[t] | ids[:t]) for t >= first from the PyTorch original's logits (float64 log-softmax): a
    reference outside keras-hub and outside gradcallback."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor(ids[None]).long()).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1).numpy()
    return np.array([logprobs[t - 1, ids[t]] for t in range(first, len(ids))])


@pytest.mark.backends
@pytest.mark.parametrize("family", FAMILIES)
def test_family_contract(family, hub_causal_lm, causal_lm_folder):
    """Every family, every backend: the prompt's tokens as keras-hub lays them out, the continuation's summed
    log-probability as the score, one row per continuation token, rows summing to the scores."""
    lm, original = hub_causal_lm(family), torch_model(causal_lm_folder(family))
    attributions = explain(lm, lm.preprocessor, PROMPTS, method="gradient_x_input", target=CONTINUATIONS)
    tolerance = 2e-2 if family == "mistral" else 1e-4  # keras-hub's Mistral port differs from PyTorch by 4e-3
    for prompt, a in zip(PROMPTS, attributions):
        packed = lm.preprocessor.generate_preprocess([prompt])
        ids = keras.ops.convert_to_numpy(packed["token_ids"])[0]
        n = int(keras.ops.convert_to_numpy(packed["padding_mask"])[0].sum())
        assert a.token_ids.tolist() == ids[:n].tolist()
        start = lm.preprocessor.tokenizer.start_token_id
        assert a.special_mask.tolist() == [start is not None and i == 0 for i in range(n)]
        k = len(a.info["target_ids"])
        logprobs = _reference_logprobs(original, np.concatenate([a.token_ids, a.info["target_ids"]]), n)
        np.testing.assert_allclose(a.info["token_logprobs"], logprobs, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(a.score, logprobs.sum(), rtol=tolerance, atol=tolerance)
        rows = a.info["token_scores"]
        assert rows.shape == (k, n) and a.scores.shape == (n,) and k >= 2
        np.testing.assert_allclose(rows.sum(axis=0), a.scores, atol=1e-5 * max(1.0, np.abs(a.scores).max()))
        assert np.abs(a.scores).max() > 0
        assert a.info["target_tokens"] == [lm.preprocessor.tokenizer.id_to_token(i) for i in a.info["target_ids"]]


def _captum(family, folder, lm, layer_method):
    from captum.attr import LLMGradientAttribution, TextTokenInput
    from transformers import AutoTokenizer

    model, tokenizer = torch_model(folder), AutoTokenizer.from_pretrained(str(folder))
    start = lm.preprocessor.tokenizer.start_token_id
    text = (lm.preprocessor.tokenizer.id_to_token(start) if start is not None else "") + PROMPT
    attribution = LLMGradientAttribution(layer_method(model, model.get_input_embeddings()), tokenizer)
    return attribution, TextTokenInput(text, tokenizer), tokenizer.encode(text)


@pytest.mark.backends
@pytest.mark.parametrize("family", ["gpt2", "qwen2"])
def test_against_captum_llm_gradient_attribution(family, causal_lm_folder, hub_causal_lm):
    """Gradient x input: sequence and per-token rows equal Captum's (rel err <= 1e-4); integrated gradients
    with Captum's baseline (token id 0 at the prompt positions): Pearson >= 0.999, and complete."""
    import torch
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    lm, folder = hub_causal_lm(family), causal_lm_folder(family)
    ours = explain(lm, lm.preprocessor, [PROMPT], method="gradient_x_input", target=" Paris.")[0]
    captum, prompt, ids = _captum(family, folder, lm, LayerGradientXActivation)
    assert ours.token_ids.tolist() == ids
    theirs = captum.attribute(prompt, target=torch.tensor(ours.info["target_ids"]))
    assert _rel_err(ours.scores, theirs.seq_attr.numpy()) <= 1e-4
    assert _rel_err(ours.info["token_scores"], theirs.token_attr.numpy()) <= 1e-4
    ig = explain(lm, lm.preprocessor, [PROMPT], method="integrated_gradients", target=" Paris.", baseline=0,
                 steps=16)[0]  # Gauss-Legendre, as Captum's default; few points keep JAX's compiles few
    captum, prompt, _ = _captum(family, folder, lm, LayerIntegratedGradients)
    theirs = captum.attribute(prompt, target=torch.tensor(ours.info["target_ids"]), n_steps=16)
    assert np.corrcoef(ig.scores, theirs.seq_attr.numpy())[0, 1] >= 0.999
    for row, their_row in zip(ig.info["token_scores"], theirs.token_attr.numpy()):
        assert np.corrcoef(row, their_row)[0, 1] >= 0.999
    gap = ig.score - ig.info["baseline_score"]  # completeness against the summed log-probability
    np.testing.assert_allclose(ig.score, sum(ig.info["token_logprobs"]), rtol=1e-5)
    assert abs(ig.convergence_delta) <= 0.01 * abs(gap) + 1e-4
    np.testing.assert_allclose(ig.info["token_scores"].sum(axis=0), ig.scores, atol=1e-4)


def test_generate_explains_the_greedy_continuation(hub_causal_lm):
    """target="generate": the model's own greedy continuation (checked against an argmax loop over its logits),
    which counts as predicted right; every method gives prompt-sized scores and K rows."""
    lm = hub_causal_lm("gpt2")
    a = explain(lm, lm.preprocessor, [PROMPT], method="gradient_x_input", target="generate", max_new_tokens=4)[0]
    ids = list(a.token_ids)
    for _ in range(4):
        logits = keras.ops.convert_to_numpy(lm({"token_ids": np.array([ids]),
                                                "padding_mask": np.ones((1, len(ids)), bool)}))
        ids.append(int(np.argmax(logits[0, -1])))
    assert a.info["target_ids"] == ids[len(a.token_ids):] and a.info["greedy_matches"]
    for method in ("gradient_norm", "vanilla_gradients", "smoothgrad", "integrated_gradients"):
        b = explain(lm, lm.preprocessor, [PROMPT], method=method, target=a.info["target_ids"],
                    **({"steps": 8} if method == "integrated_gradients" else {}))[0]
        assert b.scores.shape == (len(a),) and b.info["token_scores"].shape == (4, len(a)), method
        assert np.isfinite(b.info["token_scores"]).all() and b.prediction.answer == a.info["target_text"]


def test_bad_continuations_are_clear_errors(hub_causal_lm):
    from hub_models import build_classifier

    lm = hub_causal_lm("gpt2")
    with pytest.raises(ValueError, match="reads at most 64"):
        explain(lm, lm.preprocessor, [PROMPT], target=[5] * 64)
    for empty in ("", []):
        with pytest.raises(ValueError, match="at least one token"):
            explain(lm, lm.preprocessor, [PROMPT], target=empty)
    classifier = build_classifier("bert")
    with pytest.raises(ValueError, match="only a causal LM explains.*Received: target=' Paris'"):
        explain(classifier, classifier.preprocessor, ["a good movie"], target=" Paris")
    long_prompt = " ".join(["the cat sat on the mat"] * 12)  # about 70 tokens: more than the 64 the model reads
    with pytest.warns(UserWarning, match=r"Truncated to max_length=64 .*\[\(1, "):
        explain(lm, lm.preprocessor, [PROMPT, long_prompt], target=" Paris.")
    near = " ".join(["the cat sat on the mat"] * 10)
    with pytest.warns(UserWarning, match=r"cut from the left .*\[\(1, \d+\)\]"):
        a = explain(lm, lm.preprocessor, [PROMPT, near], target=" Paris. The cat sat on the mat.")[1]
    assert len(a.token_ids) + len(a.info["target_ids"]) == 64


@pytest.mark.backends
@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="The LoRA fit runs on JAX and torch "
                    "(`make test-jax`, `make test-torch`): on TensorFlow its fit compiles for minutes on 2 cores.")
def test_lora_fine_tune_with_the_callback(tmp_path, hub_causal_lm, causal_lm_folder):
    """A LoRA fit with the callback explaining each probe's expected continuation every step: tags written,
    attributions move as the LoRA weights train, and the callback changes no trainable variable."""
    import keras_hub

    from gradcallback import AttributionCallback, ProbeSet
    from gradcallback.io.runs import read_run

    lm = keras_hub.models.CausalLM.from_preset(str(causal_lm_folder("gpt2")))
    lm.preprocessor.sequence_length = 16
    lm.backbone.enable_lora(2)
    lm.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
               weighted_metrics=[])
    probes = ProbeSet.from_prompts(["The capital of France is", "The cat sat on"], lm.preprocessor,
                                   targets=[" Paris.", " the mat"])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_x_input",), target="label",
                                   every_n_steps=1, jit_compile=False)
    before = [keras.ops.convert_to_numpy(v).copy() for v in lm.trainable_variables]
    callback.log_now(0, model=lm)
    after = [keras.ops.convert_to_numpy(v) for v in lm.trainable_variables]
    assert all(np.array_equal(b, a) for b, a in zip(before, after))  # explaining trains nothing
    callback.close()
    lm.fit(["The capital of France is Paris."] * 6, batch_size=2, epochs=1, callbacks=[callback], verbose=0)
    run = read_run(callback.run_dir, images=True)
    assert "gradient_x_input/continuation/probe_001" in run.images  # the [continuation x prompt] matrix
    history = callback.history["gradient_x_input"]
    assert len(history) >= 3 and "probes/accuracy" in run.scalars
    first, last = history[0][1][0], history[-1][1][0]
    assert first.info["target_tokens"] == last.info["target_tokens"]
    assert not np.allclose(first.scores, last.scores, atol=1e-4)  # the LoRA weights moved the attributions
    assert not np.allclose(first.info["token_scores"], last.info["token_scores"], atol=1e-4)
    assert last.score > first.score  # trained towards " Paris."


def test_explain_from_the_shell(tmp_path, causal_lm_folder, hub_causal_lm, capsys):
    """`gradcallback explain --model DIR --target " Paris" PROMPT` on a Hugging Face and a keras-hub folder."""
    import json

    from gradcallback.cli.main import main

    lm = hub_causal_lm("gpt2")
    lm.save_to_preset(str(tmp_path / "preset"))
    expected = explain(lm, lm.preprocessor, [PROMPT], method="gradient_x_input", target=" Paris")[0]
    assert main(["explain", "--model", str(causal_lm_folder("gpt2")), "--method", "gradient_x_input",
                 "--target", " Paris", PROMPT, "--json"]) == 0  # a Hugging Face folder
    out = json.loads(capsys.readouterr().out)[0]
    assert out["task"] == "causal_lm" and out["info"]["target_tokens"] == expected.info["target_tokens"]
    np.testing.assert_allclose(out["scores"], expected.scores, rtol=1e-5, atol=1e-6)
    assert len(out["info"]["token_scores"]) == len(expected.info["target_ids"])
    assert main(["explain", "--model", str(tmp_path / "preset"), "--target", " Paris", PROMPT]) == 0  # keras-hub's
    assert "capital" in capsys.readouterr().out


def test_monitors_read_prompts_and_skip_chat_markers(tmp_path, hub_causal_lm):
    """Chat markers (keras-hub's special tokens, here Qwen 3's <|im_start|> / <|im_end|>) are special tokens,
    outside the mass the monitors read; SpuriousGroups and discovery run over the prompt words of
    continuation probes, and the payload judges 'correct' once, by the greedy continuation."""
    from gradcallback import AttributionCallback, ProbeSet, ShortcutDiscovery, SpuriousGroups
    from gradcallback.io.payload import build
    from gradcallback.io.payload import probes as payload_probes
    from gradcallback.io.runs import read_run

    lm = hub_causal_lm("qwen3")
    chat = ["<|im_start|>The capital of France is<|im_end|>", "<|im_start|>The capital of Germany is<|im_end|>"]
    probe_set = ProbeSet.from_prompts(chat, lm.preprocessor, targets=[" Paris.", " Berlin."])
    tokens = lm.preprocessor.tokenizer
    for enc in probe_set.encodings:
        marked = [tokens.id_to_token(i) for i, s in zip(enc.ids, enc.special_mask) if s]
        assert marked == ["<|im_start|>", "<|im_end|>"]
    callback = AttributionCallback(probe_set, tmp_path, methods=("gradient_x_input",), target="label",
                                   jit_compile=False, monitors=[
                                       SpuriousGroups({"place": ["France", "Germany"]}, threshold=0.99,
                                                      method="gradient_x_input"),
                                       ShortcutDiscovery(method="gradient_x_input", min_drop=0.0, replace="pad")])
    callback.log_now(0, model=lm)
    callback.close()
    run = read_run(callback.run_dir)
    assert any(tag.startswith("spurious/") for tag in run.scalars), sorted(run.scalars)
    assert "discovery/candidates" in run.scalars  # discovery over the prompt words, by the continuation's p
    a = callback.history["gradient_x_input"][0][1][0]
    share = np.abs(a.scores[a.special_mask]).sum() / np.abs(a.scores).sum()
    assert a.special_mask.sum() == 2 and 0 <= share < 1
    assert run.scalars["probes/accuracy"][0] == np.mean([x.info["greedy_matches"] for x in
                                                         callback.history["gradient_x_input"][0][1]])
    attributions = callback.history["gradient_x_input"][0][1]
    blob = build(0, "gradient_x_input", attributions, signed=True, labels=probe_set.labels)
    columns = payload_probes(blob)
    assert [c["correct"] for c in columns] == [x.info["greedy_matches"] for x in attributions]
    assert [c["continuation"] for c in columns] == [" Paris.", " Berlin."]
    assert columns[0]["mean_logprob"] == pytest.approx(attributions[0].info["mean_logprob"], abs=1e-4)
    assert len(columns[0]["token_scores"]["rows"]) == len(attributions[0].info["target_ids"])


def test_rows_are_chunked_to_bound_the_logits(monkeypatch, hub_causal_lm):
    """With a small logits budget the same rows go through more, smaller backend calls, with the same result."""
    from gradcallback.adapters import get_adapter
    from gradcallback.engine import continuations

    lm = hub_causal_lm("gpt2")
    run = lambda method, **kw: explain(lm, lm.preprocessor, PROMPTS, method=method, target=CONTINUATIONS, **kw)  # noqa: E731
    whole, whole_ig = run("gradient_x_input"), run("integrated_gradients", steps=8)
    fn = get_adapter(lm).__dict__["_score_functions"][("continuation", False, False)]
    calls = fn.calls
    run("gradient_x_input")
    assert fn.calls - calls == 1  # 7 rows (1 + 2 and 1 + 3), one call
    longest = max(len(a.token_ids) + len(a.info["target_ids"]) for a in whole)
    monkeypatch.setattr(continuations, "LOGITS_PER_CHUNK", longest * lm.backbone.vocabulary_size * 2)  # 2 rows
    calls = fn.calls
    parts = run("gradient_x_input")
    assert fn.calls - calls == 4  # 3 rows and 4 rows (sequence + one per token), 2 at a time: 2 + 2 calls
    parts_ig = run("integrated_gradients", steps=8)
    for a, b in zip(whole + whole_ig, parts + parts_ig):
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a.info["token_scores"], b.info["token_scores"], rtol=1e-4, atol=1e-6)
