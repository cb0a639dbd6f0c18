"""The attribution engine: the reusable `Explainer` behind `gradcallback.explain()`.

Tokenizes probes, sorts them by length, pads each chunk only to its longest probe (to a
length bucket where the backend compiles per shape), runs one method per chunk through the
backend's compiled score function, and returns one `Attribution` per probe with padding
removed. Works on numpy; the model is touched only through its adapter and backend.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import replace
from typing import Any, Iterator, Sequence

import numpy as np

from ..adapters import get_adapter, wrap_tokenizer
from ..adapters.tokenizers import Encoding
from ..attribution import TASKS, Attribution
from ..validate import choice, positive_int
from . import methods
from .backends import check_backend, resolve_jit_compile
from .batching import chunks, pad
from .continuations import continuation_probabilities, explain_continuations, is_continuation
from .options import BASELINES
from .predictions import make_prediction, softmax
from .registry import METHODS, method_options
from .reporting import reporting, units_per_probe
from .score import Chunk, InputMemo, score_function
from .targets import parse_targets
from .windows import explain_windows


class Explainer:
    """Explains one model with one tokenizer; compiled functions are reused across calls."""

    def __init__(self, model: Any, tokenizer: Any, *, task: str | None = None, embedding_layer: Any = None,
                 max_length: int | None = None, batch_size: int = 32, jit_compile: bool | str = False,
                 doc_stride: int = 128, output: str = "auto", eager: bool = False):
        choice("task", task, (*TASKS, None))
        positive_int("batch_size", batch_size)  # True is an int to Python, not a batch size
        self.adapter = get_adapter(model, embedding_layer, output)
        self.backend = check_backend(self.adapter)
        self.tokenizer = wrap_tokenizer(tokenizer)
        self.batch_size = batch_size
        self.jit_compile = resolve_jit_compile(self.adapter, jit_compile)
        self.eager = bool(eager)  # TensorFlow: no trace, for one-off calls (backends/tensorflow.py)
        self.doc_stride = int(doc_stride)  # tokens shared by neighbouring windows of a long QA context
        known = [v for v in (max_length, self.adapter.max_length, self.tokenizer.model_max_length) if v]
        self.max_length = min(known) if known else None
        self._task = task
        self._memo: InputMemo | None = None

    @contextlib.contextmanager
    def remembering(self) -> Iterator[InputMemo]:
        """Inside it, a method's pass at inputs an earlier pass evaluated takes that evaluation instead of running
        a forward pass again (`InputMemo`): around one logged step's passes, while the weights stay put."""
        outer, self._memo = self._memo, InputMemo()
        try:
            yield self._memo
        finally:
            self._memo = outer

    def task_for(self, inputs: Sequence[Any]) -> str:
        """The task: given, else detected from the model, else from the inputs' shape."""
        pairs = bool(inputs) and all(isinstance(x, tuple) for x in inputs)
        task = self._task or self.adapter.detect_task() or ("question_answering" if pairs else None)
        if task is None:
            raise ValueError(
                "Could not tell the model's task from its class or outputs. Pass "
                f"task= one of {TASKS}. Received: model={type(self.adapter.model).__name__}"
            )
        if (task == "question_answering") != pairs:
            want = "(question, context) pairs" if task == "question_answering" else "texts"
            raise ValueError(f"A {task} model takes {want}. Received: inputs[0]={inputs[0]!r}")
        return task

    def encode(self, inputs: Sequence[Any], task: str | None = None) -> list[Encoding]:
        """Tokenize and validate probes; one warning for truncation, one for empty-content probes."""
        check_texts(inputs)
        encodings = [self.tokenizer.encode(text, self.max_length, task) for text in inputs]
        # Long QA contexts are explained over windows (windows.py); other inputs are cut, with a warning.
        cut = [(i, e.dropped) for i, e in enumerate(encodings) if e.dropped and not isinstance(inputs[i], tuple)]
        if cut:
            warnings.warn(f"Truncated to max_length={self.max_length} tokens (probe, tokens dropped): {cut}",
                          stacklevel=3)
        hollow = [i for i, e in enumerate(encodings) if e.special_mask.all()]
        if hollow:
            warnings.warn(f"Probes with no token besides special tokens: {hollow}", stacklevel=3)
        self.check_ids(encodings)
        return encodings

    def check_ids(self, encodings: Sequence[Encoding]) -> None:
        """ValueError if a token id has no row in the embedding matrix (a lookup would be silently wrong)."""
        limit = self.adapter.vocab_size
        bad = [(i, int(e.ids.max())) for i, e in enumerate(encodings) if e.ids.size and e.ids.max() >= limit]
        if bad:
            raise ValueError(
                f"Token ids outside the model's embedding matrix ({limit} rows): (probe, id) {bad}. The "
                "tokenizer gained tokens the model lacks: call model.resize_token_embeddings(len(tokenizer))."
            )

    def explain(self, inputs: Sequence[Any], *, method: str = "gradient_norm", target: Any = None,
                **options: Any) -> list[Attribution]:
        """One `Attribution` per input (see `gradcallback.explain` for the arguments). `progress=` is a
        factory of work sinks (engine/reporting.py), or None: the engine draws no bar itself."""
        inputs = list(inputs)
        task = self.task_for(inputs)
        return self.explain_encoded(inputs, self.encode(inputs, task), task=task, method=method,
                                    target=target, **options)

    def explain_encoded(self, texts: Sequence[Any], encodings: Sequence[Encoding], *, task: str,
                        method: str, target: Any = None, **options: Any) -> list[Attribution]:
        """Explain already-tokenized probes (the callback tokenizes its probe set once)."""
        if task == "question_answering" and target in (None, "span") and any(e.dropped for e in encodings):
            return explain_windows(self, texts, encodings, method=method, stride=self.doc_stride, **options)
        if task == "question_answering" and any(e.dropped for e in encodings):
            warnings.warn("Explicit QA targets are positions in the first window: contexts cut at "
                          f"max_length={self.max_length} (probe, tokens dropped): "
                          f"{[(i, e.dropped) for i, e in enumerate(encodings) if e.dropped]}", stacklevel=2)
        if task == "causal_lm" and is_continuation(target):
            return explain_continuations(self, texts, encodings, target=target, method=method, **options)
        progress = options.pop("progress", None)  # after the windows branch, which passes it on
        call_options = method_options(method, options)
        head, targets = parse_targets(task, target, encodings, self.tokenizer)
        self.adapter.sync()  # weights current (JAX's trainer keeps them apart mid-epoch)
        with self.adapter.attached():
            fn = score_function(self.adapter, _head(head), self.jit_compile, self.eager)
            needs = METHODS[options.get("base", "gradient_norm") if method == "smoothgrad" else method].needs
            shared = {"gram": self._gram()} if "gram" in needs else {}
            results: list[Attribution | None] = [None] * len(encodings)
            per_item = units_per_probe(METHODS[method].fn, options)
            with reporting(progress, len(encodings), label=method, per_item=per_item) as work:
                for index in chunks(encodings, self.batch_size):
                    batch = pad([encodings[i] for i in index], self._pad_id(), fn.static_shapes, self.max_length)
                    embeds = self.adapter.word_embeddings(batch["ids"])
                    extra = dict(shared)
                    if "baseline" in needs:
                        extra["baseline"] = self._baseline(embeds, batch, options.get("baseline", "pad"))
                    out = METHODS[method].fn(fn.bind(Chunk.from_numpy(batch), self._memo), embeds, targets[index],
                                             **call_options, **extra)
                    info = {"baseline": options.get("baseline", "pad")} if "baseline" in needs else {}
                    for row, i in enumerate(index):
                        results[i] = self._attribution(texts[i], encodings[i], out, row, method, task, info)
                    work.items_done(len(index))
        return results  # type: ignore[return-value]

    def class_distributions(self, encodings: Sequence[Encoding]) -> np.ndarray:
        """Forward passes only, batched: the class probabilities per probe, [N, C] (classification).
        Identical inputs are run once (perturbation checks ask for the same variant under several names:
        comprehensiveness at 1 token and AOPC's 1% bin, sufficiency at 10% and at 3 tokens, ...). A call
        takes the backend's `rows_per_call` rows (at least `batch_size`) within `chunk_rows`' memory budget:
        forward only, a step's hundreds of perturbed rows go in a few calls, not dozens of `batch_size`."""
        encodings, back = distinct(encodings)
        self.adapter.sync()
        targets = np.full((len(encodings), 2), -1, np.int32)
        out: list[np.ndarray | None] = [None] * len(encodings)
        with self.adapter.attached():
            fn = score_function(self.adapter, _head("class"), self.jit_compile, self.eager)
            for index in chunks(encodings, max(self.batch_size, fn.rows_per_call)):
                batch = pad([encodings[i] for i in index], self._pad_id(), fn.static_shapes, self.max_length)
                embeds = self.adapter.word_embeddings(batch["ids"])
                logits = fn.bind(Chunk.from_numpy(batch)).evaluate(embeds, targets[index]).outputs["logits"]
                for row, i in enumerate(index):
                    out[i] = softmax(logits[row].astype(np.float64))
        return np.stack(out)[back]

    def continuation_probabilities(self, encodings: Sequence[Encoding],
                                   continuations: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Causal LM, forward passes only: each prompt's p(continuation) and whether greedy decoding gives it."""
        return continuation_probabilities(self, encodings, continuations)

    def class_probabilities(self, encodings: Sequence[Encoding], classes: Sequence[int]) -> np.ndarray:
        """Each probe's probability of the given class."""
        return self.class_distributions(encodings)[np.arange(len(encodings)), np.asarray(classes)]

    def _pad_id(self) -> int:
        return self.tokenizer.special_id("pad") or 0

    def _gram(self) -> np.ndarray:
        matrix = self.adapter.embedding_matrix().astype(np.float64)
        return (matrix.T @ matrix).astype(np.float32)  # E^T E, [H, H]

    def _baseline(self, embeds: np.ndarray, batch: dict, kind: Any) -> np.ndarray:
        """IG baseline: special tokens and padding keep their input embedding (seed 002);
        every other position gets the [PAD]/[MASK]/given token's embedding, or zeros."""
        keep = (batch["special"] | (batch["mask"] == 0))[:, :, None]
        if kind == "zeros":
            fill = np.zeros_like(embeds)
        else:
            token = {"pad": self._pad_id(), "mask": self.tokenizer.special_id("mask")}.get(kind, kind)
            if not isinstance(token, (int, np.integer)) or isinstance(token, bool) \
                    or not 0 <= token < self.adapter.vocab_size:
                raise ValueError(f"Expected baseline in {BASELINES} or a token id below "
                                 f"{self.adapter.vocab_size}. Received: baseline={kind!r}")
            fill = np.broadcast_to(self.adapter.word_embeddings(np.array([[int(token)]])), embeds.shape)
        return np.where(keep, embeds, fill).astype(np.float32)

    def _attribution(self, text: Any, enc: Encoding, out: methods.MethodOutput, row: int,
                     method: str, task: str, extra_info: dict) -> Attribution:
        length = len(enc.ids)
        ev = out.evaluation
        per_token = task == "question_answering"  # start/end logits are [T]; others were reduced to [C]
        outputs = {k: v[row, :length] if per_token else v[row] for k, v in ev.outputs.items()}
        tokens = self.tokenizer.convert_ids_to_tokens(enc.ids)
        prediction = make_prediction(task, outputs, ev.predicted[row])
        if prediction.span is not None:
            prediction = replace(prediction, answer=self._answer(text, enc, tokens, prediction.span))
        if task == "causal_lm":
            prediction = replace(prediction, answer=self.tokenizer.convert_ids_to_tokens([prediction.label])[0])
        target = ev.targets[row]
        info = dict(out.info, **extra_info, **{k: v[row].item() for k, v in out.per_probe.items()})
        info["explained"] = self.adapter.describe_output() if task == "classification" else "logit"
        if task == "causal_lm":
            info["target_token"] = self.tokenizer.convert_ids_to_tokens([int(target[1])])[0]
        return Attribution(
            tokens=tokens, token_ids=enc.ids.copy(), scores=out.scores[row, :length].astype(np.float32),
            method=method, target=int(target[0]) if task == "classification" else (int(target[0]), int(target[1])),
            prediction=prediction, convergence_delta=None if out.delta is None else float(out.delta[row]),
            task=task, text=text, special_mask=enc.special_mask.copy(), segment_ids=enc.segment_ids.copy(),
            score=float(ev.values[row]), info=info, scheme=self.tokenizer.scheme,
        )

    def _answer(self, text: Any, enc: Encoding, tokens: list[str], span: tuple[int, int]) -> str:
        start, end = span
        if enc.offsets is not None and isinstance(text, tuple) and enc.context_mask[start]:
            return text[1][enc.offsets[start][0]: enc.offsets[end][1]]
        return self.tokenizer.tokens_to_string(tokens[start: end + 1])


def _head(name: str) -> Any:
    from .heads import HEADS  # keras.ops: imported once a model is explained, not with the package

    return HEADS[name]


def distinct(encodings: Sequence[Encoding]) -> tuple[list[Encoding], np.ndarray]:
    """The distinct encodings (by token and segment ids) and, per given one, the index of its distinct one."""
    index: dict[bytes, int] = {}
    unique: list[Encoding] = []
    back = np.empty(len(encodings), np.int64)
    for i, e in enumerate(encodings):
        key = e.ids.astype(np.int64).tobytes() + b"|" + e.segment_ids.astype(np.int64).tobytes()
        if key not in index:
            index[key] = len(unique)
            unique.append(e)
        back[i] = index[key]
    return unique, back


def check_texts(inputs: Sequence[Any]) -> None:
    """ValueError unless every input is a non-empty str or a (question, context) pair of them."""
    if not inputs:
        raise ValueError("Expected at least one input. Received: inputs=[]")
    for i, text in enumerate(inputs):
        parts = text if isinstance(text, tuple) else (text,)
        if not all(isinstance(p, str) for p in parts) or len(parts) not in (1, 2):
            raise ValueError(f"Expected a str or a (question, context) pair of str. Received: inputs[{i}]={text!r}")
        if any(not p.strip() for p in parts):
            raise ValueError(f"Empty text at probe {i}. Received: inputs[{i}]={text!r}")
