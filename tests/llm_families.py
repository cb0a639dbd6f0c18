"""Tiny causal LMs of several families as local Hugging Face folders (nothing downloaded).

Each folder holds a random PyTorch `transformers` model saved with `save_pretrained` next to a
tokenizer trained here: byte-level BPE (GPT-2, Llama 3, Qwen 2, Qwen 3) or SentencePiece (Gemma,
Gemma 3, Mistral). keras-hub's own converters load them (`CausalLM.from_preset(folder)`); the
PyTorch original is the reference Captum runs on.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from conftest import WORDS

FAMILIES = ("gpt2", "llama3", "qwen2", "qwen3", "gemma", "gemma3", "mistral")
SENTENCES = [" ".join(WORDS[i:i + 9]) for i in range(0, len(WORDS), 2)] * 3 + [
    "The capital of France is Paris.", "The capital of Germany is Berlin.", "The cat sat on the mat."]
BPE_SPECIALS = ["<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>"]
SIZE = dict(hidden=16, layers=1, heads=2, intermediate=32, positions=64)


def _bpe_tokenizer(folder: Path) -> int:
    """A byte-level BPE tokenizer trained on SENTENCES, saved as tokenizer.json, vocab.json, merges.txt."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=BPE_SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(SENTENCES, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.save_pretrained(folder)
    model = json.loads((folder / "tokenizer.json").read_text())["model"]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"]))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (folder / "merges.txt").write_text("\n".join(merges))
    return tokenizer.get_vocab_size()


def _sentencepiece_tokenizer(folder: Path, family: str) -> int:
    """A SentencePiece unigram model trained on SENTENCES with the family's special tokens, as tokenizer.model."""
    import sentencepiece as spm

    if family == "mistral":
        ids = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, unk_piece="<unk>", bos_piece="<s>", eos_piece="</s>")
        extra = "[INST],[/INST]"
    else:
        ids = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
                   unk_piece="<unk>")
        extra = "<start_of_turn>,<end_of_turn>"
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES), model_writer=model, vocab_size=160,
                                   model_type="unigram", user_defined_symbols=extra, minloglevel=2,
                                   hard_vocab_limit=False, **ids)
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    return processor.get_piece_size()


def _config(family: str, vocab: int, size: dict | None = None):
    import transformers as tr

    s = {**SIZE, **(size or {})}
    common = dict(vocab_size=vocab, hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                  num_attention_heads=s["heads"], num_key_value_heads=1, intermediate_size=s["intermediate"],
                  max_position_embeddings=s["positions"], tie_word_embeddings=True)
    if family == "gpt2":
        return tr.GPT2LMHeadModel, tr.GPT2Config(vocab_size=vocab, n_embd=s["hidden"], n_layer=s["layers"],
                                                 n_head=s["heads"], n_positions=s["positions"], bos_token_id=0,
                                                 eos_token_id=0)
    if family == "llama3":
        return tr.LlamaForCausalLM, tr.LlamaConfig(bos_token_id=1, eos_token_id=2, **common)
    if family == "qwen2":
        return tr.Qwen2ForCausalLM, tr.Qwen2Config(eos_token_id=0, **common)
    if family == "qwen3":
        return tr.Qwen3ForCausalLM, tr.Qwen3Config(head_dim=8, eos_token_id=7, **common)
    if family == "gemma":
        return tr.GemmaForCausalLM, tr.GemmaConfig(head_dim=8, pad_token_id=0, eos_token_id=1, bos_token_id=2,
                                                   **common)
    if family == "gemma3":
        return tr.Gemma3ForCausalLM, tr.Gemma3TextConfig(head_dim=8, pad_token_id=0, eos_token_id=1, bos_token_id=2,
                                                         sliding_window=16, query_pre_attn_scalar=8, **common)
    common["tie_word_embeddings"] = False  # keras-hub's Mistral converter reads lm_head.weight
    return tr.MistralForCausalLM, tr.MistralConfig(head_dim=8, bos_token_id=1, eos_token_id=2, sliding_window=None,
                                                   **common)


def build_family_folder(family: str, folder: Path, seed: int = 0, size: dict | None = None) -> Path:
    """Writes a tiny random `family` causal LM and its tokenizer into `folder` (Hugging Face layout); `size`
    overrides SIZE's entries (the benchmarks use a larger one)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _bpe_tokenizer(folder) if family in ("gpt2", "llama3", "qwen2", "qwen3") else \
        _sentencepiece_tokenizer(folder, family)
    cls, config = _config(family, vocab, size)
    torch.manual_seed(seed)
    model = cls(config)
    with torch.no_grad():  # larger weights than the default init, so attributions are not all near zero
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.15)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def torch_model(folder: Path):
    """The PyTorch original of a family folder, in eval mode."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()
