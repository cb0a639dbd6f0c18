"""Causal-LM continuation attribution: ratios measured in one run (issue 21).

    KERAS_BACKEND=torch python benchmarks/llm.py [--repeats 5] [--out benchmarks/LLM.md]

A random GPT-2 (hidden 64, 2 layers, vocabulary ~300) saved as a Hugging Face folder and loaded with
keras-hub's converter; Captum 0.9's `LLMGradientAttribution` runs on the PyTorch original of the same
weights. 8 prompts, each with a 16-token continuation. Measured, interleaved, median of `--repeats`
after a warm-up:

- ours: `explain(..., method="gradient_x_input", target=continuations)`: the sequence attribution and the
  16 per-token rows of every prompt (one batched call);
- Captum: `LLMGradientAttribution(LayerGradientXActivation(...)).attribute(...)` per prompt (one backward
  per continuation token: 128 in all);
- one training step (`train_on_batch`) of the keras-hub model on the same 8 prompt + continuation sequences.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

PROMPTS = ["The capital of France is", "The cat sat on", "The sky is", "A good movie was",
           "The dog ran", "The question is", "The wise man knows", "The river at the city"]
SIZE = dict(hidden=64, layers=2, heads=4, intermediate=128, positions=128)


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "LLM.md"))
    args = parser.parse_args()
    import keras
    import keras_hub
    import torch
    from captum.attr import LayerGradientXActivation, LLMGradientAttribution, TextTokenInput
    from llm_families import build_family_folder, torch_model
    from transformers import AutoTokenizer

    from gradcallback import explain

    folder = build_family_folder("gpt2", Path(tempfile.mkdtemp()) / "gpt2", size=SIZE)
    lm = keras_hub.models.CausalLM.from_preset(str(folder))
    original, tokenizer = torch_model(folder), AutoTokenizer.from_pretrained(str(folder))
    rng = np.random.default_rng(0)
    continuations = [[int(i) for i in rng.integers(10, lm.backbone.vocabulary_size, 16)] for _ in PROMPTS]
    captum = LLMGradientAttribution(LayerGradientXActivation(original, original.get_input_embeddings()), tokenizer)

    preprocessor = lm.preprocessor

    def ours():
        return explain(lm, preprocessor, PROMPTS, method="gradient_x_input", target=continuations)

    def theirs():
        return [captum.attribute(TextTokenInput("<|endoftext|>" + p, tokenizer), target=torch.tensor(c))
                for p, c in zip(PROMPTS, continuations)]

    preprocessor.sequence_length = max(len(a.token_ids) for a in ours()) + 16
    batch = preprocessor([p + tokenizer.decode(c) for p, c in zip(PROMPTS, continuations)])
    lm.preprocessor = None  # train_on_batch takes the packed batch as it is
    lm.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def step():
        return lm.train_on_batch(*batch)

    a, b = ours()[0], theirs()[0]  # warm-up, and the check that both computed the same thing
    err = float(np.abs(a.info["token_scores"] - b.token_attr.numpy()).max() / np.abs(b.token_attr.numpy()).max())
    step()
    rounds = [(timed(ours, 1), timed(theirs, 1), timed(step, 1)) for _ in range(args.repeats)]
    t_ours, t_captum, t_step = (statistics.median(r[i] for r in rounds) for i in range(3))
    rows = [("ours: sequence + 16 per-token rows, 8 prompts", f"{t_ours * 1e3:.1f} ms", "", ""),
            ("Captum LLMGradientAttribution, same 8 prompts", f"{t_captum * 1e3:.1f} ms", "", ""),
            ("one training step on the same 8 sequences", f"{t_step * 1e3:.1f} ms", "", ""),
            ("ours / Captum", f"{t_ours / t_captum:.2f}x", "<= 0.5x", "yes" if t_ours / t_captum <= 0.5 else "NO"),
            ("ours / training step", f"{t_ours / t_step:.2f}x", "", ""),
            ("per-token rows, max rel. difference from Captum", f"{err:.1e}", "<= 1e-4",
             "yes" if err <= 1e-4 else "NO")]
    text = ["# Causal-LM continuation benchmark", "",
            f"- backend: {keras.backend.backend()}; model: random GPT-2 {SIZE}, vocabulary "
            f"{lm.backbone.vocabulary_size}; median of {args.repeats} interleaved rounds", "",
            "| measure | value | target | met |", "|---|---|---|---|"] + [f"| {' | '.join(r)} |" for r in rows]
    Path(args.out).write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
