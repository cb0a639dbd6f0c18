"""Run by test_backends.py in a process per KERAS_BACKEND (the test process's own backend in it, by
`all_scores`): every method's scores on models with the same (numpy-drawn) weights, as JSON on stdout."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
from conftest import VOCAB, build_functional_classifier  # noqa: E402
from hub_models import build_classifier, set_deterministic_weights  # noqa: E402

from gradcallback import METHODS, explain  # noqa: E402

TEXTS = ["the cat sat on the mat", "a good movie", "the sky is green and the river is long"]
OPTIONS = {"integrated_gradients": {"steps": 16}, "smoothgrad": {"samples": 4}}


def scores(model, tokenizer) -> dict:
    return {method: [a.scores.tolist() for a in explain(model, tokenizer, TEXTS, method=method,
                                                        **OPTIONS.get(method, {}))] for method in sorted(METHODS)}


def all_scores(folder: str, hub: bool) -> dict:
    """{"backend", "functional": {method: scores per text}, "keras_hub_bert": ... (with `hub`)}."""
    from transformers import BertTokenizerFast

    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as file:
        file.write("\n".join(VOCAB) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=vocab, do_lower_case=True)
    functional = build_functional_classifier()
    set_deterministic_weights(functional, seed=1)
    out = {"backend": keras.backend.backend(), "functional": scores(functional, tokenizer)}
    if hub:
        model = build_classifier("bert")
        set_deterministic_weights(model, seed=2)
        out["keras_hub_bert"] = scores(model, model.preprocessor)
    return out


def main() -> None:
    print(json.dumps(all_scores(sys.argv[1], "--hub" in sys.argv)))


if __name__ == "__main__":
    main()
