"""A tiny random Llama 3 with a long context, as a local Hugging Face folder (nothing downloaded).

The same tokenizer and weights recipe as tests/llm_families.py, with room for 8,192-token rows
(`max_position_embeddings`; RoPE needs no table) and, for model parallelism, a key/value-head count and
a vocabulary that a 2-way "model" mesh axis divides (keras-hub's Llama layout map shards both).
"""

from __future__ import annotations

from pathlib import Path

from llm_families import _bpe_tokenizer, _config


def build_long_llama(folder: Path, positions: int = 8192, kv_heads: int = 1, even_vocab: bool = False,
                     seed: int = 0) -> Path:
    """Writes a tiny random Llama 3 (hidden 16, 1 layer, 2 heads) reading up to `positions` tokens into `folder`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _bpe_tokenizer(folder)
    cls, config = _config("llama3", vocab + (vocab % 2 if even_vocab else 0))  # unused extra rows are harmless
    config.max_position_embeddings, config.num_key_value_heads = positions, kv_heads
    torch.manual_seed(seed)
    model = cls(config)
    with torch.no_grad():  # larger weights than the default init, as in llm_families
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.15)
    model.save_pretrained(folder, safe_serialization=True)
    return folder
