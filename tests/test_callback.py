"""AttributionCallback inside tf-keras fit, Keras 3 fit and custom loops; event files read back."""

from __future__ import annotations

import json
from collections import defaultdict

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import build_functional_classifier, build_hf

from gradcallback import AttributionCallback, Display, ProbeSet

TEXTS = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]
LABELS = [0, 1, 0, 1]


def read_events(run_dir) -> dict[str, dict[str, list[int]]]:
    """plugin name -> tag -> steps, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    acc.Reload()
    out: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for tag in acc.Tags()["tensors"]:
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        out[plugin][tag] = [e.step for e in acc.Tensors(tag)]
    return out


def expected_tags(method: str, n_probes: int, stability: bool = True) -> dict[str, set[str]]:
    images = {f"{method}/{kind}/probe_{i:03d}" for kind in ("heatmap", "evolution") for i in range(n_probes)}
    scalars = {f"{method}/special_token_share", "probes/mean_confidence", "probes/accuracy"}
    if stability:
        scalars.add(f"{method}/rank_stability")
    return {"images": images, "text": {"probes", f"{method}/top_tokens", f"{method}/token_table"},
            "scalars": scalars, "histograms": {f"{method}/scores"}, "gradcallback": {f"dashboard/{method}"}}


def hf_dataset(tokenizer):
    enc = tokenizer(TEXTS * 4, padding=True, return_tensors="np")
    return tf.data.Dataset.from_tensor_slices((dict(enc), np.array(LABELS * 4))).batch(4)


def compile_hf(model):
    import tf_keras

    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_tf_keras_fit_writes_every_tag_at_every_epoch(tmp_path, hf_tokenizer):
    model = compile_hf(build_hf("bert", "classification", seed=2))
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer, labels=LABELS, label_names=["pos", "neg", "other"])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm",))
    model.fit(hf_dataset(hf_tokenizer), epochs=2, callbacks=[callback], verbose=0)
    events = read_events(tmp_path / "attributions")
    want = expected_tags("gradient_norm", 4)
    assert {plugin: set(tags) for plugin, tags in events.items()} == want
    for tags in events.values():
        for tag, steps in tags.items():
            if tag == "probes":
                assert steps == [0]
            elif tag.endswith("rank_stability"):
                assert steps == [1, 2]
            else:
                assert steps == [0, 1, 2], tag
    rows = [json.loads(line) for line in (tmp_path / "attributions" / "records.jsonl").read_text().splitlines()]
    assert [(r["step"], r["probe"]) for r in rows] == [(s, p) for s in (0, 1, 2) for p in range(4)]
    assert rows[0]["tokens"] == ["[CLS]", "the", "movie", "was", "good", "[SEP]"]
    assert len(rows[0]["scores"]) == 6 and rows[0]["label"] == 0 and rows[4]["rank_stability"] is not None
    # training changed what the model looks at: epoch-2 scores differ from step 0
    assert not np.allclose(rows[0]["scores"], rows[8]["scores"])


def test_keras3_fit_with_two_methods_and_step_schedule(tmp_path, hf_tokenizer):
    model = build_functional_classifier(seed=1, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = hf_tokenizer(TEXTS * 4, padding=True, return_tensors="np")["input_ids"]
    probes = ProbeSet.from_texts(TEXTS[:2], hf_tokenizer, labels=LABELS[:2])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
                                   every_n_steps=3, method_options={"integrated_gradients": {"steps": 8}})
    model.fit(ids, np.array(LABELS * 4), batch_size=4, epochs=2, callbacks=[callback], verbose=0)  # 8 steps
    events = read_events(tmp_path / "attributions")
    assert events["images"]["integrated_gradients/heatmap/probe_001"] == [0, 3, 6]
    ig_deltas = {t for t in events["scalars"] if "convergence_delta" in t}
    assert ig_deltas == {f"integrated_gradients/convergence_delta/{k}"
                         for k in ("mean_abs", "max_abs", "mean_rel", "max_rel")}
    assert "gradient_norm/convergence_delta/mean_abs" not in events["scalars"]


def test_resumed_run_continues_the_axis_and_callback_is_reusable(tmp_path, hf_tokenizer):
    model = compile_hf(build_hf("bert", "classification", seed=3))
    probes = ProbeSet.from_texts(TEXTS[:2], hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path)
    data = hf_dataset(hf_tokenizer)
    model.fit(data, epochs=1, callbacks=[callback], verbose=0)
    model.fit(data, initial_epoch=1, epochs=3, callbacks=[callback], verbose=0)  # same object, resumed
    events = read_events(tmp_path / "attributions")
    assert events["images"]["gradient_norm/heatmap/probe_000"] == [0, 1, 2, 3]
    rows = (tmp_path / "attributions" / "records.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_custom_training_loop_with_log_now(tmp_path, hf_tokenizer):
    model = build_functional_classifier(seed=4)
    probes = ProbeSet.from_texts(TEXTS[:2], hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_x_input",), display=Display(style="bars"))
    for step in (0, 10, 20):
        callback.log_now(step, model=model)
    callback.close()
    events = read_events(tmp_path / "attributions")
    assert events["images"]["gradient_x_input/heatmap/probe_001"] == [0, 10, 20]
    assert [s for s, _ in callback.history["gradient_x_input"]] == [0, 10, 20]


def test_two_callbacks_on_one_log_dir(tmp_path, hf_tokenizer, functional_classifier):
    probes = ProbeSet.from_texts(TEXTS[:1], hf_tokenizer)
    first = AttributionCallback(probes, tmp_path)
    first.open(functional_classifier)
    with pytest.raises(ValueError, match="distinct `name=`"):
        AttributionCallback(probes, tmp_path).open(functional_classifier)
    first.open(functional_classifier)  # the same callback may reopen (a fit that raised never closed it)
    other = AttributionCallback(probes, tmp_path, name="second")
    other.open(functional_classifier)
    assert other.run_dir == tmp_path / "attributions" / "second"
    first.close(), other.close()


def test_question_answering_logs_span_images(tmp_path, hf_qa, hf_tokenizer):
    probes = ProbeSet.from_qa(["what is the capital of france ?"], ["paris is the capital city of france"],
                              hf_tokenizer, answers=["paris"])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 8}})
    callback.log_now(0, model=hf_qa)
    callback.close()
    a = callback.history["gradient_norm"][0][1][0]
    assert a.task == "question_answering" and a.prediction.span == a.target
    events = read_events(tmp_path / "attributions")
    assert "integrated_gradients/heatmap/probe_000" in events["images"]
    assert "probes/accuracy" in events["scalars"]


def test_markdown_tables_escape_tokens(tmp_path, hf_tokenizer, functional_classifier):
    probes = ProbeSet.from_texts(["the | cat < b > sat !"], hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, display=Display(top_k=20))
    callback.log_now(0, model=functional_classifier)
    callback.close()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "attributions"), size_guidance={"tensors": 0})
    acc.Reload()
    table = acc.Tensors("gradient_norm/top_tokens")[0].tensor_proto.string_val[0].decode()
    assert "\\|" in table and "&lt;" in table and "\\!" in table
    assert "<" not in table.replace("&lt;", "")


@pytest.mark.parametrize("kwargs, message", [
    ({"methods": ("saliency",)}, "Received: method='saliency'"),
    ({"every_n_epochs": 0}, "Received: every_n_epochs=0"),
    ({"every_n_steps": -2}, "Received: every_n_steps=-2"),
    ({"every_n_epochs": True}, "Received: every_n_epochs=True"),  # a bool is not a count
    ({"batch_size": True}, "Received: batch_size=True"),
    ({"output": "softmax"}, "Received: output='softmax'"),
    ({"display": {"top_k": 3}}, "Received: display=\\{'top_k': 3\\}"),
    ({"target": "label"}, "Received: target='label', labels=None"),
    ({"method_options": {"ig": {}}}, "Received: method_options keys \\['ig'\\]"),
])
def test_constructor_validates(tmp_path, hf_tokenizer, kwargs, message):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    with pytest.raises(ValueError, match=message):
        AttributionCallback(probes, tmp_path, **kwargs)
    with pytest.raises(ValueError, match="Received: aggregate='sentence'"):
        Display(aggregate="sentence")


def test_probe_set_validation_and_dataset(hf_tokenizer):
    with pytest.raises(ValueError, match="at least one probe"):
        ProbeSet.from_texts([], hf_tokenizer)
    with pytest.raises(ValueError, match="one of `labels` per probe"):
        ProbeSet.from_texts(TEXTS, hf_tokenizer, labels=[0])
    ds = tf.data.Dataset.from_tensor_slices((TEXTS, LABELS)).batch(3)
    probes = ProbeSet.from_dataset(ds, hf_tokenizer, n=3)
    assert probes.inputs == TEXTS[:3] and probes.labels == LABELS[:3]
    texts_only = ProbeSet.from_dataset(tf.data.Dataset.from_tensor_slices(TEXTS), hf_tokenizer, n=2)
    assert texts_only.inputs == TEXTS[:2] and texts_only.labels is None


def test_fixed_colour_scale_keeps_the_first_steps_scale(tmp_path, hf_tokenizer):
    from conftest import bert_config
    from test_render import box_colours, saturation
    from transformers import TFBertForSequenceClassification

    from gradcallback.views import images as render

    tf.keras.utils.set_random_seed(1)
    model = TFBertForSequenceClassification(bert_config(initializer_range=0.3))  # varied scores
    model(model.dummy_inputs, training=False)
    callback = AttributionCallback(ProbeSet.from_texts(["the cat sat on the mat and the dog ran fast"], hf_tokenizer),
                                   tmp_path, display=Display(color_scale="fixed"), jit_compile=False)
    callback.log_now(0, model=model)
    model.classifier.kernel.assign(model.classifier.kernel * 3.0)  # a linear head: every gradient triples
    callback.log_now(1, model=model)
    callback.close()
    first, later = (callback.history["gradient_norm"][k][1][0] for k in (0, 1))
    np.testing.assert_allclose(later.scores, 3 * first.scores, rtol=1e-4)
    # A token at about a quarter of the maximum is coloured about three times deeper against the
    # first step's scale than against its own: the fixed scale shows that attributions grew.
    ratio = later.scores / later.scores.max()
    mid = int(np.argmin(np.abs(ratio - 0.25)))
    fixed_box = box_colours(later, render.heatmap(later, signed=False, scale=float(first.scores.max())))[mid]
    own_box = box_colours(later, render.heatmap(later, signed=False))[mid]
    assert saturation(fixed_box) > 2 * saturation(own_box) > 0
    # and the image the callback logged at step 1 is exactly that fixed-scale rendering
    from io import BytesIO

    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "attributions"), size_guidance={"tensors": 0})
    acc.Reload()
    png = acc.Tensors("gradient_norm/heatmap/probe_000")[1].tensor_proto.string_val[2]
    logged = np.asarray(Image.open(BytesIO(png)).convert("RGB"))
    expected = render.heatmap(later, signed=False, scale=float(first.scores.max()), width=1200)
    np.testing.assert_array_equal(logged, expected)
