"""Causal-LM continuation targets: explain log p(continuation | prompt), and each continuation token's row.

For a prompt x and a continuation c_1..c_K the explained score is

    f(x) = sum_j log p(c_j | x, c_<j)          (teacher forcing: the model reads x + c)

attributed to the prompt's tokens only (Captum's `LLMGradientAttribution`, inseq). The matrix of
per-token rows, row j = the attribution of log p(c_j | x, c_<j), comes in the same batched passes:
each probe contributes 1 + K rows to one method call (the sequence row and one row per
continuation token, each a "continuation" head target (first position, count)), so one backward
covers them all; Captum loops over the K tokens, one backward each. The gradient is linear in f, so
for gradient x input and fixed-step integrated gradients the rows sum to the sequence row.
Rows are chunked so a chunk's [rows, tokens, vocabulary] logits stay under `LOGITS_PER_CHUNK`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..adapters.tokenizers import Encoding
from ..attribution import Attribution, Prediction
from .batching import pad
from .methods import chunk_rows
from .registry import METHODS, method_options
from .reporting import reporting
from .row_chunks import RowSlices
from .score import Chunk, length_bucket, score_function

LOGITS_PER_CHUNK = 1 << 25  # rows x tokens x vocabulary floats per chunk (128 MiB of float32 logits)
GENERATE = "generate"


def is_continuation(target: Any) -> bool:
    """True for a causal-LM target that is a continuation: text, token ids, one of those per prompt, or "generate"."""
    if isinstance(target, str):
        return True
    if isinstance(target, (list, tuple, np.ndarray)):
        if len(target) == 0:
            return True  # an empty continuation: parse_continuations says so
        return any(isinstance(t, (str, list, tuple, np.ndarray, np.integer, int)) and not isinstance(t, bool)
                   for t in target) and not all(t is None for t in target)
    return False


@dataclass(frozen=True, eq=False)
class Probe:
    """One prompt with its continuation, laid out as the model reads it (prompt + continuation)."""

    prompt: Encoding
    continuation: np.ndarray  # int32 [K]
    text: str | None = None  # the continuation as the user wrote it (None: given as ids, or generated)

    @property
    def sequence(self) -> Encoding:
        """The prompt's encoding followed by the continuation's tokens (not special, not context)."""
        k, p = len(self.continuation), self.prompt
        return Encoding(ids=np.concatenate([p.ids, self.continuation]).astype(np.int32),
                        segment_ids=np.concatenate([p.segment_ids, np.zeros(k, np.int32)]),
                        special_mask=np.concatenate([p.special_mask, np.zeros(k, bool)]),
                        context_mask=np.concatenate([p.context_mask, np.zeros(k, bool)]))

    def rows(self) -> np.ndarray:
        """(first, count) continuation-head targets: the sequence, then one per token (none for K = 1)."""
        first, k = len(self.prompt.ids), len(self.continuation)
        tokens = [(first + j, 1) for j in range(k)] if k > 1 else []
        return np.asarray([(first, k)] + tokens, np.int32)


def continuation_ids(tokenizer: Any, target: Any) -> np.ndarray:
    """A continuation's token ids from text (tokenized alone, no special tokens) or ids; ValueError if empty."""
    if isinstance(target, str):
        encoded = tokenizer.encode(target, None, "causal_lm") if target else None
        ids = [] if encoded is None else [int(i) for i in encoded.ids[~encoded.special_mask]]
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        ids = [int(target)]
    elif isinstance(target, (list, tuple, np.ndarray)) and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) and i >= 0 for i in target):
        ids = [int(i) for i in target]
    else:
        raise ValueError("Expected a continuation as text, a list of token ids, or one of those per prompt. "
                         f"Received: target={target!r}")
    if not ids:
        raise ValueError(f"Expected a continuation of at least one token. Received: target={target!r}")
    return np.asarray(ids, np.int32)


def parse_continuations(tokenizer: Any, target: Any, n: int) -> list[np.ndarray] | None:
    """One id array per prompt, or None for "generate"."""
    if isinstance(target, str) and target == GENERATE:
        return None
    per_prompt = isinstance(target, (list, tuple)) and any(isinstance(t, (str, list, tuple, np.ndarray))
                                                           for t in target)
    if not per_prompt:
        return [continuation_ids(tokenizer, target)] * n
    if len(target) != n:
        raise ValueError(f"Expected one continuation per prompt ({n}). Received: {len(target)} in target={target!r}")
    return [continuation_ids(tokenizer, t) for t in target]


def fit_context(explainer: Any, texts: Sequence[str], encodings: Sequence[Encoding],
                continuations: Sequence[np.ndarray], given: Sequence[str | None] | None = None) -> list[Probe]:
    """Prompt + continuation within the model's context: a prompt is cut from the left (warning naming the
    probes); a continuation that leaves no room for one prompt token is a ValueError."""
    limit, probes, cut = explainer.max_length, [], []
    for i, (text, enc, ids) in enumerate(zip(texts, encodings, continuations)):
        if limit is not None and len(enc.ids) + len(ids) > limit:
            room = limit - len(ids)
            if room < 1 + int(enc.special_mask[:1].sum()):
                raise ValueError(f"The continuation of probe {i} has {len(ids)} tokens; the model reads at most "
                                 f"{limit} (prompt included). Received: target tokens={len(ids)}")
            shorter = explainer.tokenizer.encode(text, room, "causal_lm")
            cut.append((i, len(enc.ids) - len(shorter.ids)))
            enc = shorter
        probes.append(Probe(enc, np.asarray(ids, np.int32), given[i] if given else None))
    if cut:
        warnings.warn(f"Prompts cut from the left to fit their continuation into max_length={limit} tokens "
                      f"(probe, tokens dropped): {cut}", stacklevel=4)
    return probes


def probe_chunks(probes: Sequence[Probe], batch_size: int, vocab: int) -> list[np.ndarray]:
    """Probe indices, longest first, so a chunk's rows x length x vocab logits stay under LOGITS_PER_CHUNK."""
    order = np.argsort([-len(p.sequence.ids) for p in probes], kind="stable")
    out, start = [], 0
    while start < len(order):
        length = length_bucket(len(probes[order[start]].sequence.ids))
        budget = max(1, min(chunk_rows("auto", length), LOGITS_PER_CHUNK // (length * max(vocab, 1))))
        end, rows = start, 0
        while end < len(order) and end - start < batch_size and (end == start or rows + len(
                probes[order[end]].rows()) <= budget):
            rows += len(probes[order[end]].rows())
            end += 1
        out.append(order[start:end])
        start = end
    return out


def generate(explainer: Any, encodings: Sequence[Encoding], max_new_tokens: int) -> list[np.ndarray]:
    """Each prompt's greedy continuation of up to `max_new_tokens` tokens (an end token ends it, included).

    One batched forward pass per new token through the `next_token` head (no backward).
    """
    from .heads import HEADS

    ends = {i for i in (explainer.tokenizer.special_id("end"), explainer.tokenizer.special_id("eos")) if i is not None}
    sequences = [list(e.ids) for e in encodings]
    grown: list[list[int]] = [[] for _ in encodings]
    limit = explainer.max_length
    with explainer.adapter.attached():
        fn = score_function(explainer.adapter, HEADS["next_token"], explainer.jit_compile)
        for _ in range(max_new_tokens):
            live = [i for i, g in enumerate(grown) if not (g and g[-1] in ends)
                    and (limit is None or len(sequences[i]) < limit)]
            if not live:
                break
            batch = _pad_ids([sequences[i] for i in live], explainer, fn.static_shapes)
            targets = np.asarray([(len(sequences[i]) - 1, -1) for i in live], np.int32)
            embeds = explainer.adapter.word_embeddings(batch["ids"])
            chosen = fn.bind(Chunk.from_numpy(batch)).evaluate(embeds, targets).targets[:, 1]
            for i, token in zip(live, chosen):
                sequences[i].append(int(token))
                grown[i].append(int(token))
    return [np.asarray(g, np.int32) for g in grown]


def _pad_ids(sequences: Sequence[list[int]], explainer: Any, bucketed: bool) -> dict[str, np.ndarray]:
    encodings = [Encoding(ids=np.asarray(s, np.int32), segment_ids=np.zeros(len(s), np.int32),
                          special_mask=np.zeros(len(s), bool), context_mask=np.ones(len(s), bool)) for s in sequences]
    return pad(encodings, explainer._pad_id(), bucketed, explainer.max_length)


def explain_continuations(explainer: Any, texts: Sequence[str], encodings: Sequence[Encoding], *, target: Any,
                          method: str, **options: Any) -> list[Attribution]:
    """One `Attribution` per prompt explaining its continuation (see the module docstring)."""
    from .heads import HEADS

    progress = options.pop("progress", None)
    max_new_tokens = int(options.pop("max_new_tokens", 16))
    call_options = method_options(method, options)
    continuations = parse_continuations(explainer.tokenizer, target, len(encodings))
    explainer.adapter.sync()
    if continuations is None:
        continuations = generate(explainer, encodings, max_new_tokens)
    probes = fit_context(explainer, texts, encodings, continuations, _given_texts(target, len(encodings)))
    needs = METHODS[options.get("base", "gradient_norm") if method == "smoothgrad" else method].needs
    results: list[Attribution | None] = [None] * len(probes)
    with explainer.adapter.attached(), reporting(progress, len(probes), label=method, per_item=1) as work:
        fn = score_function(explainer.adapter, HEADS["continuation"], explainer.jit_compile)
        shared = {"gram": explainer._gram()} if "gram" in needs else {}
        for index in probe_chunks(probes, explainer.batch_size, explainer.adapter.vocab_size):
            chunk = [probes[i] for i in index]
            batch = pad([p.sequence for p in chunk], explainer._pad_id(), fn.static_shapes, explainer.max_length)
            embeds = explainer.adapter.word_embeddings(batch["ids"])
            targets = [p.rows() for p in chunk]
            row_probe = np.concatenate([np.full(len(t), b) for b, t in enumerate(targets)])
            extra = dict(shared)
            if "baseline" in needs:
                kind = options.get("baseline", "pad")
                extra["baseline"] = _baseline(explainer, embeds, batch, chunk, kind)[row_probe]
            bound = RowSlices(fn.bind(Chunk.from_numpy(batch)))  # 1 + K rows of one long sequence: sliced
            out = METHODS[method].fn(bound, embeds[row_probe], np.concatenate(targets),
                                     rows=row_probe, **call_options, **extra)
            info = {"baseline": options.get("baseline", "pad")} if "baseline" in needs else {}
            for b, i in enumerate(index):
                results[i] = _attribution(explainer, texts[i], probes[i], out, np.flatnonzero(row_probe == b),
                                          method, info)
            work.items_done(len(index))
    return results  # type: ignore[return-value]


def _given_texts(target: Any, n: int) -> list[str | None]:
    """Each prompt's continuation text as given (kept with its leading space for display), None where not text."""
    if isinstance(target, str):
        return [None if target == GENERATE else target] * n
    items = list(target) if isinstance(target, (list, tuple)) and len(target) == n else [None] * n
    return [t if isinstance(t, str) else None for t in items]


def _baseline(explainer: Any, embeds: np.ndarray, batch: dict, chunk: Sequence[Probe], kind: Any) -> np.ndarray:
    """The engine's baseline with the continuation kept at its own embeddings: only the prompt moves along
    the path (Captum's LayerIntegratedGradients in LLMGradientAttribution feeds the continuation as it is)."""
    keep = batch["special"].copy()
    for b, p in enumerate(chunk):
        keep[b, len(p.prompt.ids): len(p.sequence.ids)] = True
    return explainer._baseline(embeds, dict(batch, special=keep), kind)


def _attribution(explainer: Any, text: str, probe: Probe, out: Any, rows: np.ndarray, method: str,
                 extra_info: dict) -> Attribution:
    """The prompt's Attribution: the sequence row's scores, the per-token rows in info["token_scores"]."""
    enc, k = probe.prompt, len(probe.continuation)
    length, first = len(enc.ids), len(enc.ids)
    ev = out.evaluation
    seq_row, token_rows = rows[0], (rows[1:] if k > 1 else rows[:1])
    positions = np.arange(first - 1, first - 1 + k)  # the positions whose logits predict the continuation
    logprobs = ev.outputs["logprobs"][seq_row, positions].astype(np.float64)
    greedy = ev.outputs["greedy"][seq_row, positions].astype(np.int64)
    tokenizer = explainer.tokenizer
    target_tokens = tokenizer.convert_ids_to_tokens(probe.continuation)
    info = dict(out.info, **extra_info, **{key: v[seq_row].item() for key, v in out.per_probe.items()})
    info.update(explained="log-probability of the continuation", target_tokens=target_tokens,
                target_ids=[int(i) for i in probe.continuation],
                target_text=probe.text or tokenizer.tokens_to_string(target_tokens),
                token_scores=out.scores[token_rows, :length].astype(np.float32),
                token_logprobs=[float(v) for v in logprobs], mean_logprob=float(logprobs.mean()),
                greedy_tokens=tokenizer.convert_ids_to_tokens(greedy),
                greedy_matches=bool((greedy == probe.continuation).all()))
    if out.delta is not None and k > 1:
        info["token_deltas"] = [float(d) for d in out.delta[token_rows]]
    prediction = Prediction(label=int(greedy[0]), answer=tokenizer.tokens_to_string(info["greedy_tokens"]),
                            probability=float(np.exp(logprobs.sum())))
    return Attribution(
        tokens=tokenizer.convert_ids_to_tokens(enc.ids), token_ids=enc.ids.copy(),
        scores=out.scores[seq_row, :length].astype(np.float32), method=method,
        target=(first - 1, int(probe.continuation[0])), prediction=prediction,
        convergence_delta=None if out.delta is None else float(out.delta[seq_row]), task="causal_lm", text=text,
        special_mask=enc.special_mask.copy(), segment_ids=enc.segment_ids.copy(), score=float(ev.values[seq_row]),
        info=info, scheme=tokenizer.scheme)





def continuation_probabilities(explainer: Any, encodings: Sequence[Encoding],
                               continuations: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """p(continuation | prompt) = exp(sum_j log p(c_j | prompt, c_<j)) per probe, and whether greedy decoding
    gives that continuation; forward passes only (the perturbation monitors' measure for a causal LM)."""
    from .heads import HEADS

    probes = [Probe(e, np.asarray(c, np.int32)) for e, c in zip(encodings, continuations)]
    probability, greedy = np.zeros(len(probes)), np.zeros(len(probes), bool)
    explainer.adapter.sync()
    with explainer.adapter.attached():
        fn = score_function(explainer.adapter, HEADS["continuation"], explainer.jit_compile)
        for index in probe_chunks(probes, explainer.batch_size, explainer.adapter.vocab_size):
            chunk = [probes[i] for i in index]
            batch = pad([p.sequence for p in chunk], explainer._pad_id(), fn.static_shapes, explainer.max_length)
            targets = np.stack([p.rows()[0] for p in chunk])
            ev = fn.bind(Chunk.from_numpy(batch)).evaluate(explainer.adapter.word_embeddings(batch["ids"]), targets)
            for b, (i, p) in enumerate(zip(index, chunk)):
                first = len(p.prompt.ids)
                chosen = ev.outputs["greedy"][b, first - 1: first - 1 + len(p.continuation)].astype(np.int64)
                probability[i], greedy[i] = np.exp(float(ev.values[b])), bool((chosen == p.continuation).all())
    return probability, greedy
