"""`ProbeSet`: the fixed examples explained at every logged step, tokenized once."""

from __future__ import annotations

from typing import Any, Sequence

from .adapters import wrap_tokenizer
from .adapters.tokenizers import Encoding
from .attribution import TASKS
from .engine.explain import check_texts
from .validate import choice, positive_int


class ProbeSet:
    """Probes with optional labels (class indices, or answer texts for QA) and rationales.

    Build with `from_texts`, `from_qa` or `from_dataset`. `rationales` are, per probe,
    the words a human would expect to matter (used by plausibility monitors).
    """

    def __init__(self, inputs: Sequence[Any], tokenizer: Any, *, task: str, labels: Sequence | None = None,
                 rationales: Sequence[Sequence[str]] | None = None, max_length: int | None = None,
                 label_names: Sequence[str] | None = None):
        self.inputs = list(inputs)
        if not self.inputs:
            raise ValueError("Expected at least one probe. Received: an empty probe set")
        check_texts(self.inputs)
        choice("task", task, TASKS)
        if max_length is not None:
            positive_int("max_length", max_length)
        for name, values in (("labels", labels), ("rationales", rationales)):
            if values is not None and len(values) != len(self.inputs):
                raise ValueError(f"Expected one of `{name}` per probe ({len(self.inputs)}). "
                                 f"Received: {len(values)} {name}")
        self.tokenizer = tokenizer
        self.task = task
        self.labels = list(labels) if labels is not None else None
        self.rationales = [list(r) for r in rationales] if rationales is not None else None
        self.label_names = list(label_names) if label_names is not None else None
        self.max_length = max_length
        wrapped = wrap_tokenizer(tokenizer)
        self.encodings: list[Encoding] = [wrapped.encode(x, max_length or wrapped.model_max_length, task)
                                          for x in self.inputs]

    def __len__(self) -> int:
        return len(self.inputs)

    @classmethod
    def from_texts(cls, texts: Sequence[str], tokenizer: Any, labels: Sequence[int] | None = None,
                   rationales: Sequence[Sequence[str]] | None = None, max_length: int | None = None,
                   label_names: Sequence[str] | None = None) -> "ProbeSet":
        """Sequence-classification probes."""
        return cls(texts, tokenizer, task="classification", labels=labels, rationales=rationales,
                   max_length=max_length, label_names=label_names)

    @classmethod
    def from_qa(cls, questions: Sequence[str], contexts: Sequence[str], tokenizer: Any,
                answers: Sequence[str] | None = None, max_length: int | None = None) -> "ProbeSet":
        """Question-answering probes; `answers` are the expected answer texts."""
        if len(questions) != len(contexts):
            raise ValueError(f"Expected one context per question. Received: {len(questions)} questions, "
                             f"{len(contexts)} contexts")
        return cls(list(zip(questions, contexts)), tokenizer, task="question_answering", labels=answers,
                   max_length=max_length)

    @classmethod
    def from_prompts(cls, prompts: Sequence[str], tokenizer: Any, targets: Sequence[Any] | None = None,
                     max_length: int | None = None) -> "ProbeSet":
        """Causal-LM probes (`tokenizer`: a tokenizer or the keras-hub preprocessor). `targets`: each prompt's
        expected continuation (text or token ids), used as labels (correct when the greedy continuation
        equals it) and, with the callback's `target="label"`, as what is explained: the continuation's
        summed log-probability, with one row per continuation token (`info["token_scores"]`)."""
        return cls(prompts, tokenizer, task="causal_lm", labels=targets, max_length=max_length)

    @classmethod
    def from_dataset(cls, dataset: Any, tokenizer: Any, n: int = 32, **kwargs: Any) -> "ProbeSet":
        """The first `n` examples of a `tf.data.Dataset` of texts, or of (text, label) pairs (batched or not)."""
        positive_int("n", n)
        texts, labels = [], []
        for element in _examples(dataset):
            text, label = (element[0], element[1]) if isinstance(element, tuple) else (element, None)
            texts.append(_as_str(text))
            labels.append(None if label is None else int(label))
            if len(texts) == n:
                break
        has_labels = all(label is not None for label in labels) and bool(labels)
        return cls.from_texts(texts, tokenizer, labels=labels if has_labels else None, **kwargs)

    def encodings_for(self, max_length: int | None, explainer: Any) -> list[Encoding]:
        """The stored encodings, or new ones (with a warning) if the model takes fewer tokens."""
        if max_length is None or all(len(e.ids) <= max_length for e in self.encodings):
            return self.encodings
        return explainer.encode(self.inputs, self.task)


def _examples(dataset: Any):
    batched = len(getattr(dataset, "element_spec", None) and _first_spec(dataset.element_spec).shape or ()) > 0
    for element in (dataset.unbatch() if batched else dataset):
        yield tuple(element) if isinstance(element, (tuple, list)) else element


def _first_spec(spec: Any) -> Any:
    return spec[0] if isinstance(spec, (tuple, list)) else spec


def _as_str(value: Any) -> str:
    value = value.numpy() if hasattr(value, "numpy") else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
