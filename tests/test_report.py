"""`gradcallback report`: runs read back, the per-step summary, JSON and a self-contained, escaped HTML file."""

from __future__ import annotations

import base64
import json
import re

import pytest
from conftest import build_hf

from gradcallback import Alert, AttributionCallback, Faithfulness, ProbeSet, ShortcutDiscovery, SpuriousGroups
from gradcallback.cli.html_report import as_html
from gradcallback.cli.main import main
from gradcallback.cli.report import alerts_cell, as_text, columns, still_over, summarize
from gradcallback.io.runs import Run, find_runs, read_run, top_tokens

TEXTS = ["the movie was good", "the film was awful", "a great movie"]


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, hf_tokenizer):
    """Three logged steps of a tiny classifier, with a spurious group, discovery and faithfulness."""
    model = build_hf("bert", "classification", seed=3)
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer, labels=[0, 1, 0])
    logdir = tmp_path_factory.mktemp("report")
    callback = AttributionCallback(probes, logdir, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 8, "every": 2}},
                                   monitors=[SpuriousGroups({"movie": ["movie"]}, threshold=0.0, rise=None),
                                             ShortcutDiscovery(method="gradient_norm"),
                                             Faithfulness(method="gradient_norm")], verbose=True)
    with pytest.warns(UserWarning, match="Spurious attribution"):
        for step in range(3):
            callback.log_now(step, epoch=step, model=model)
    callback.close()
    return logdir


def test_runs_read_back_every_kind_of_value(logged_run):
    (folder,) = find_runs(logged_run)
    run = read_run(folder, images=True)
    assert run.steps == [0, 1, 2]
    assert run.methods == ["gradient_norm", "integrated_gradients"]
    # `every: 2`: integrated gradients only at steps 0 and 2, gradient_norm at every step
    assert sorted({r["step"] for r in run.records if r["method"] == "integrated_gradients"}) == [0, 2]
    assert sorted({r["step"] for r in run.records if r["method"] == "gradient_norm"}) == [0, 1, 2]
    assert set(run.scalars["probes/accuracy"]) == {0, 1, 2}
    # the spurious monitor reads integrated gradients at every step, whatever `every` says for the images
    assert set(run.scalars["spurious/movie/where_present"]) == {0, 1, 2}
    assert run.images["gradient_norm/heatmap/probe_002"][2].startswith(b"\x89PNG")
    assert [r["step"] for r in run.monitor_records if r["kind"] == "shortcut_candidates"] == [0, 1, 2]
    shares = dict(top_tokens(run, "gradient_norm", 2, k=100))
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-5)  # mean of per-probe shares that sum to 1


def test_summary_table_and_json(logged_run, capsys):
    run = read_run(find_runs(logged_run)[0])
    summary = summarize(run)
    assert [s["step"] for s in summary["steps"]] == [0, 1, 2]
    (alert,) = summary["steps"][0]["alerts"]  # threshold 0, patience 1: once, at the first step
    alert = dict(alert)
    value = alert.pop("value")
    assert alert == {"monitor": "spurious", "subject": "movie", "step": 0, "statistic": "where_present share",
                     "limit": 0.0, "action": "warn", "method": "integrated_gradients", "tag": "spurious/alerts",
                     "message": run.alerts[0].message}
    assert 0 < value < 1 and run.alerts[0].value == value and summary["steps"][1]["alerts"] == []
    text = as_text(summary, width=1000)
    header = next(line for line in text.splitlines() if line.startswith("step")).split()
    assert header[:4] == ["step", "epoch", "accuracy", "confidence"] and header[-1] == "alerts"
    assert (f"ALERT step 0 spurious/movie: where_present share {value:.3g} (limit 0), warn, integrated_gradients -- "
            f"Spurious attribution: group 'movie' holds {value:.1%} of the attribution mass") in text
    # an alert fires once; at the later steps the share stays over its limit 0, and the table says so
    shares = run.scalars["spurious/movie/where_present"]
    assert [s["still_over"] for s in summary["steps"][1:]] == [
        [{"monitor": "spurious", "subject": "movie", "fired_at": 0, "value": shares[step], "limit": 0.0}]
        for step in (1, 2)]
    rows = [line.split() for line in text.splitlines() if re.match(r" *\d+ +\d+ ", line)]
    assert [" ".join(row[-2:]) for row in rows] == ["1 fired", "still over", "still over"]
    assert main(["report", str(logged_run), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["steps"][2]["scalars"]["probes/accuracy"] == pytest.approx(
        run.scalars["probes/accuracy"][2])
    assert set(printed[0]["steps"][2]["top_tokens"]) == {"gradient_norm", "integrated_gradients"}


def test_report_lines_fit_the_terminal(logged_run, capsys, monkeypatch):
    summary = summarize(read_run(find_runs(logged_run)[0]))
    wide = as_text(summary, width=1000)
    headers = [h for h, _ in columns(summary)]
    for width in (60, 90):
        monkeypatch.setenv("COLUMNS", str(width))
        assert main(["report", str(logged_run)]) == 0
        printed = capsys.readouterr().out
        assert max(map(len, printed.splitlines())) <= width and max(map(len, wide.splitlines())) > width
        # cut into blocks, each repeating the step and epoch: every step's row is in every block
        blocks = [line for line in printed.splitlines() if line.startswith("step  epoch")]
        assert len(blocks) >= 2 and sum(1 for line in printed.splitlines() if re.match(r" +2 +2 ", line)) == len(blocks)
        header_words = " ".join(printed.split())
        assert all(part in header_words for h in headers for part in h.replace("_", "_ ").split())
        assert "ALERT step 0 spurious/movie" in printed and "top tokens at step 2 (gradient_norm)" in printed


def _alert_run(tmp_path, shares: dict[int, float], alert_steps: list[int], limit: float = 0.5) -> Run:
    """A run written by hand: a spurious group's where-present share per step, alerts at `alert_steps`."""
    monitor = {"class": "SpuriousGroups", "name": "spurious", "method": "integrated_gradients",
               "columns": [["names where present", "spurious/names/where_present"]]}
    alerts = [Alert("spurious", "names", step, "where_present share", shares[step], limit, "warn",
                    "integrated_gradients", "over") for step in alert_steps]
    records = [{"step": step, "epoch": step, "kind": "attribution", "probe": 0, "method": "integrated_gradients",
                "tokens": ["[CLS]", "x", "[SEP]"], "scores": [0.1, 0.5, 0.1], "label": 0} for step in shares]
    return Run(tmp_path, scalars={"spurious/names/where_present": shares}, records=records, alerts=alerts,
               info={"monitors": [monitor], "alert_records": True})


def test_still_over_follows_the_alerts_figure(tmp_path):
    run = _alert_run(tmp_path, {0: 0.3, 1: 0.6, 2: 0.7, 3: 0.4, 4: 0.8, 5: 0.9}, alert_steps=[1, 4])
    summary = summarize(run)
    held = {s["step"]: [(h["fired_at"], h["value"]) for h in s["still_over"]] for s in summary["steps"]}
    # under the limit at step 3: not over; over again at 4 fires a new alert, which step 5 follows
    assert held == {0: [], 1: [], 2: [(1, 0.7)], 3: [], 4: [], 5: [(4, 0.9)]}
    assert [alerts_cell(s) for s in summary["steps"]] == ["0", "1 fired", "still over", "0", "1 fired", "still over"]
    run.alerts = [Alert("spurious", "names", 1, "where_present share", 0.61, 0.5, "warn", None, "over")]
    assert still_over(run) == {}  # no column holds the alert's value at its step: nothing to follow


def test_html_tables_scroll_in_their_box_with_the_step_fixed(tmp_path):
    run = _alert_run(tmp_path, {0: 0.3, 1: 0.6, 2: 0.7}, alert_steps=[1])
    page = as_html(run, summarize(run))
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    rules = dict(re.findall(r"([^{}]+)\{([^{}]*)\}", style))
    box = next(body for selector, body in rules.items() if selector.strip() == ".table-box")
    assert "overflow-x:auto" in box and "max-width:100%" in box
    sticky = next(body for selector, body in rules.items() if ".table-box td:first-child" in selector)
    assert "position:sticky" in sticky and "left:0" in sticky and "background:" in sticky  # opaque over scrolled cells
    step_table = page.split("<h2>Per logged step</h2>", 1)[1]
    assert step_table.startswith('<div class="table-box"><table><tr><th>step</th>')
    assert "<td>still over</td>" in step_table and "still over" in step_table.split("</table>", 1)[1][:400]


MEASURE = """() => {
  const box = document.querySelector(".table-box"), table = box.querySelector("table");
  const first = table.querySelector("td"), last = table.querySelector("tr:last-child td:last-child");
  const before = [first.getBoundingClientRect().left, last.getBoundingClientRect().left];
  box.scrollLeft = 400;
  return {box: box.clientWidth, table: table.scrollWidth, page: document.documentElement.scrollWidth,
          window: innerWidth, scrolled: box.scrollLeft, first: first.getBoundingClientRect().left - before[0],
          last: last.getBoundingClientRect().left - before[1]};
}"""


@pytest.mark.large  # a real browser, as tests/test_dashboard_browser.py
def test_html_step_table_fits_1280_px_or_scrolls_in_its_box(tmp_path):
    """The demo's 13 columns, laid out by Chromium: they fit a 1280 px window; in a narrower one they
    scroll inside their box, the step column staying where it is, and the page itself does not scroll."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra's browser driver)")
    from dashboard_support import FLAGS, chromium

    if chromium() is None:
        pytest.skip("Debian's chromium is not installed (`make test` installs it with apt-get as root)")
    run = _alert_run(tmp_path, {0: 0.32, 1: 0.61, 2: 0.70, 3: 0.72}, alert_steps=[1])
    names = ["attribution on fragmented words", "candidates", "length gap", "integrated_gradients comp@3",
             "random comp@3", "integrated_gradients stability", "gradient_norm stability", "confidence"]
    for k, name in enumerate(names):
        run.info["monitors"].append({"class": "M", "name": f"m{k}", "method": None, "columns": [[name, f"m{k}/x"]]})
        run.scalars[f"m{k}/x"] = {step: 0.123 + step for step in range(4)}
    run.scalars["probes/accuracy"] = {step: 0.5 for step in range(4)}
    page_file = tmp_path / "report.html"
    page_file.write_text(as_html(run, summarize(run)), encoding="utf-8")
    measured = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        for width in (1280, 900):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(page_file.as_uri())
            measured[width] = page.evaluate(MEASURE)
            page.close()
        browser.close()
    wide, narrow = measured[1280], measured[900]
    assert wide["table"] <= wide["box"] and wide["page"] <= wide["window"]  # fits: nothing to scroll
    assert narrow["table"] > narrow["box"] and narrow["page"] <= narrow["window"] and narrow["scrolled"] > 0
    assert abs(narrow["first"]) <= 1 and narrow["last"] < -100  # the step column stays, the others scroll under it


def test_html_is_self_contained(logged_run, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", str(logged_run), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"<img[^>]+src=\"http", page)  # no remote image: nothing leaves the file
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 * 3 * 2  # heatmap + evolution, 3 probes, 2 methods
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")


def test_html_shows_hostile_tokens_literally(tmp_path):
    tokens = ["[CLS]", "<script>alert(1)</script>", "![](http://tracker.example/x.png)", "](javascript:x)", "[SEP]"]
    record = {"step": 0, "epoch": 0, "kind": "attribution", "probe": 0, "method": "gradient_norm",
              "tokens": tokens, "scores": [0.1, 0.5, 0.3, 0.2, 0.1], "label": 0}
    hostile = Alert("spurious", "<img src=x onerror=alert(1)>", 0, "where_present share", 0.5, 0.2, "warn",
                    "gradient_norm", "group <img src=x onerror=alert(1)> holds 50%")
    run = Run(tmp_path, scalars={"probes/accuracy": {0: 1.0}}, records=[record], alerts=[hostile])
    page = as_html(run, summarize(run))
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<td>![](http://tracker.example/x.png)</td>" in page  # literal text in a cell, not an image


def test_report_on_a_folder_without_runs(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no records.jsonl" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_verbose_prints_one_line_per_logged_step(tmp_path, hf_tokenizer, capsys):
    model = build_hf("bert", "classification", seed=3)
    probes = ProbeSet.from_texts(TEXTS[:2], hf_tokenizer, labels=[0, 1])
    callback = AttributionCallback(probes, tmp_path, verbose=True,
                                   monitors=[SpuriousGroups({"movie": ["movie"]}, method="gradient_norm")])
    for step in range(2):
        callback.log_now(step, epoch=step, model=model)
    callback.close()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("gradcallback step 0: explaining 2 probes with gradient_norm")  # says what it does first
    lines = [line for line in out if line.startswith("gradcallback step") and ": explaining" not in line]
    assert len(lines) == 2
    assert re.match(r"gradcallback step 1 \(epoch 1\) \[\d+\.\d s\] \| probe accuracy ", lines[1])
    assert "gradient_norm top: " in lines[1] and "spurious: movie 0." in lines[1]
