"""`explain()`: token attributions for a few texts, with a progress bar for long work.

The one entry point above the engine: the engine computes and reports how far it has got
(engine/reporting.py); the bar a person sees is drawn here, by the views (views/progress.py).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

from .attribution import Attribution, AttributionList
from .engine import ENGINE_OPTIONS, Explainer
from .views.progress import progress_bar


def explain(model: Any, tokenizer: Any, inputs: Sequence[Any], *, task: str | None = None,
            method: str = "gradient_norm", target: Any = None, progress: bool | None = None,
            **options: Any) -> list[Attribution]:
    """Token attributions for `inputs`, one `Attribution` per input (an `AttributionList`, which
    Jupyter shows as coloured tokens).

    Args:
        model: a transformers TF model or a Keras 3 model (keras-hub tasks included) on the
            TensorFlow, JAX or PyTorch backend.
        tokenizer: its transformers tokenizer, or keras-hub tokenizer/preprocessor.
        inputs: texts (prompts for a causal LM), or (question, context) pairs for question answering.
        task: "classification", "question_answering", "token_classification" or "causal_lm";
            detected from the model when None.
        method: one of `METHODS`.
        target: None explains the prediction. Classification: a class index, or one per
            input. QA: "span" (default), "start", "end", or (start, end) per input.
            Token classification: a position, or (position, class), or one per input.
            Causal LM: a token id explains the next token's logit (None: the predicted one); a
            continuation (text, a list of token ids, one of those per input, or "generate": the
            greedy continuation of up to `max_new_tokens`, 16) explains its summed log-probability,
            teacher forced, with one row per continuation token in `info["token_scores"]`.
        progress: None shows a progress bar on stderr when the work will take more than about
            2 s; True always; False never.
        **options: engine options (`batch_size`, `max_length`, `embedding_layer`, `jit_compile`,
            `doc_stride`: tokens shared by the windows of a QA context longer than the model,
            `output`: "auto", "logits" or "probabilities", what a Keras classifier outputs, `eager`:
            True runs TensorFlow without tracing a graph, for one call where the trace would take
            longer than the work) and
            method options (IG: `baseline`, `steps` (an int, or "auto" for a tolerance), `quadrature`,
            `internal_batch_size`, `tolerance`, `atol`, `max_steps`; smoothgrad: `base`, `samples`,
            `noise`, `seed`).

    Example:
        >>> attributions = explain(model, tokenizer, ["The sky is green"])
        >>> attributions[0].top_k(3)
    """
    if progress not in (None, True, False):
        raise ValueError(f"Expected progress to be True, False or None (automatic). Received: progress={progress!r}")
    engine = {k: options.pop(k) for k in ENGINE_OPTIONS if k in options}
    explainer = Explainer(model, tokenizer, task=task, **engine)
    bars = None if progress is False else functools.partial(progress_bar, enabled=progress)
    return AttributionList(explainer.explain(inputs, method=method, target=target, progress=bars, **options))
