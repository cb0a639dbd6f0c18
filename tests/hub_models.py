"""Tiny keras-hub models of several families, built in the tests (nothing downloaded).

Each family gets its own tokenizer kind: WordPiece (BERT, DistilBERT), byte-pair (RoBERTa,
GPT-2) and SentencePiece (DeBERTaV3, trained here on a few sentences).
"""

from __future__ import annotations

import io
from functools import lru_cache

import keras
import numpy as np
from conftest import HIDDEN, VOCAB, WORDS

SIZE = dict(num_layers=2, num_heads=2, hidden_dim=HIDDEN, intermediate_dim=32)
SENTENCES = [" ".join(WORDS[i:i + 8]) for i in range(0, len(WORDS), 3)] * 4
CLASSIFIER_FAMILIES = ("bert", "distil_bert", "roberta", "deberta_v3")


def _bpe_vocabulary() -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary where every word of the test vocabulary is one token (with the
    leading-space marker Ġ), plus a few merges that build them."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "<|endoftext|>"]
    words = [w for w in WORDS if w.isalpha()]
    tokens = specials + list("abcdefghijklmnopqrstuvwxyzĠ.,!?") + ["Ġ" + w for w in words] + words
    vocabulary = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    merges, seen = [], set(vocabulary)
    for word in ["Ġ" + w for w in words] + words:
        left = word[0]
        for ch in word[1:]:
            merged = left + ch
            merges.append(f"{left} {ch}")
            if merged not in seen:
                vocabulary[merged] = len(vocabulary)
                seen.add(merged)
            left = merged
    return vocabulary, list(dict.fromkeys(merges))


@lru_cache(maxsize=1)
def sentencepiece_proto() -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES), model_writer=model, vocab_size=90,
                                   model_type="unigram", pad_id=0, unk_id=1, bos_id=2, eos_id=3,
                                   pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
                                   user_defined_symbols="[MASK]", minloglevel=2)
    return model.getvalue()


def tokenizer_for(family: str):
    import keras_hub

    if family in ("bert", "distil_bert"):
        cls = keras_hub.tokenizers.BertTokenizer if family == "bert" else keras_hub.tokenizers.DistilBertTokenizer
        return cls(vocabulary=VOCAB, lowercase=True)
    if family in ("roberta", "gpt2"):
        vocabulary, merges = _bpe_vocabulary()
        cls = keras_hub.tokenizers.RobertaTokenizer if family == "roberta" else keras_hub.tokenizers.GPT2Tokenizer
        return cls(vocabulary=vocabulary, merges=merges)
    return keras_hub.tokenizers.DebertaV3Tokenizer(proto=sentencepiece_proto())


def build_classifier(family: str, seed: int = 0, num_classes: int = 3):
    """A tiny keras-hub text classifier of `family`, with its preprocessor."""
    import keras_hub

    keras.utils.set_random_seed(seed)
    tokenizer = tokenizer_for(family)
    names = {"bert": "Bert", "distil_bert": "DistilBert", "roberta": "Roberta", "deberta_v3": "DebertaV3"}
    models = keras_hub.models
    backbone = getattr(models, names[family] + "Backbone")(
        vocabulary_size=tokenizer.vocabulary_size(), max_sequence_length=64, dropout=0.0, **SIZE)
    preprocessor = getattr(models, names[family] + "TextClassifierPreprocessor")(tokenizer, sequence_length=32)
    return getattr(models, names[family] + "TextClassifier")(backbone, num_classes=num_classes,
                                                             preprocessor=preprocessor, dropout=0.0)


def build_causal_lm(seed: int = 0):
    """A tiny GPT-2 causal LM with its preprocessor."""
    import keras_hub

    keras.utils.set_random_seed(seed)
    tokenizer = tokenizer_for("gpt2")
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=tokenizer.vocabulary_size(), max_sequence_length=64,
                                             dropout=0.0, **SIZE)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=32)
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=preprocessor)


def set_deterministic_weights(model, seed: int = 0, scale: float = 0.3) -> None:
    """The same weights on every backend: drawn with numpy, variable by variable, in model order."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        value = rng.normal(0.0, scale, shape) if len(shape) > 1 else rng.normal(0.0, 0.05, shape)
        if "gamma" in variable.path or "scale" in variable.name:
            value = 1.0 + value
        variable.assign(value.astype(variable.dtype))
