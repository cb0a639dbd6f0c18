"""The Attributions viewer in a real headless Chromium (Debian's, driven by Playwright), on both
surfaces: the TensorBoard tab (served by `gradcallback tensorboard`) and the `report --html` file
opened from disk. Expected values come from the callback's own records.jsonl, not from the payload."""

from __future__ import annotations

import re
import time
import urllib.parse

import numpy as np
import pytest
from dashboard_support import FLAGS, HOSTILE, TEXTS, chromium, get, launcher, logdir, records, tensorboard

from gradcallback.io import payload
from gradcallback.views.images import colour

pytestmark = pytest.mark.large  # a real browser (make test runs it; -m 'not large' skips it)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright, the dev extra's browser driver, is not "
                                                            "installed: `pip install -e \".[dev]\"`.")
if chromium() is None:
    pytest.skip("Debian's chromium is not installed: `make chromium` installs it with apt-get, as root.",
                allow_module_level=True)
expect = sync_api.expect
CLASSIFIER, HOSTILE_RUN, QA = "classifier/attributions", "hostile/attributions", "qa/attributions"


@pytest.fixture(scope="module")
def root_dir(hf_tokenizer):
    return logdir(hf_tokenizer)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=["tensorboard", "report"])
def surface(request, browser, root_dir, tmp_path_factory):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if request.param == "report":
        from gradcallback.cli.main import main

        out = tmp_path_factory.mktemp("report") / "report.html"
        assert main(["report", str(root_dir), "--html", str(out)]) == 0
        page.goto(out.as_uri())
        yield Surface(page, page, "report")
    else:
        with tensorboard(launcher(), root_dir) as port:
            get(port, "/data/plugin/gradcallback/runs", time.time() + 60)
            yield Surface(page, open_tab(page, port), "tensorboard", port)
    page.close()
    assert errors == []


def open_tab(page, port: int):
    """The Attributions tab's frame: TensorBoard's page loads, then iframes the plugin's entry page."""
    page.goto(f"http://127.0.0.1:{port}/#gradcallback")
    frame = None
    for _ in range(240):
        frame = next((f for f in page.frames if "plugin_entry.html?name=gradcallback" in f.url), None)
        if frame is not None:
            break
        page.wait_for_timeout(250)
    return frame


class Surface:
    def __init__(self, page, frame, kind, port=None):
        self.page, self.frame, self.kind, self.port = page, frame, kind, port

    def viewer(self, run: str):
        """The viewer showing `run`: the tab's one viewer switched to it, or the report's viewer of that run."""
        if self.kind == "report":
            root = self.frame.locator(".gc-root").filter(has=self.frame.locator(f'option[value="{run}"]'))
        else:
            root = self.frame.locator(".gc-root")
        expect(root).to_have_attribute("data-gc-ready", "1", timeout=60000)
        select = root.locator("select[data-gc=run]")
        if select.input_value() != run:
            select.select_option(run)
        idle(root)
        return root


def idle(root):
    expect(root).to_have_attribute("data-gc-pending", "0", timeout=30000)


def probe_shown(root) -> int:
    return int(re.search(r"probe #(\d+)", root.locator("[data-gc=header]").text_content()).group(1))


def step_shown(root) -> int:
    return int(root.locator("[data-gc=step]").get_attribute("data-value"))


def set_step(root, surface, key: str, step: int) -> None:
    root.locator("[data-gc=slider]").focus()
    surface.page.keyboard.press(key)
    idle(root)
    expect(root.locator("[data-gc=step]")).to_have_attribute("data-value", str(step))


def background(pane) -> list[tuple[int, ...]]:
    styles = pane.locator("[data-gc=token]").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    return [tuple(int(x) for x in re.findall(r"\d+", s)[:3]) for s in styles]


def expected_colours(scores, signed: bool) -> list[tuple[int, ...]]:
    scores = np.asarray(scores, np.float64)
    peak = np.abs(scores).max()
    return [colour(s / peak if peak else 0.0, signed) for s in scores]


def assert_colours(pane, scores, signed: bool) -> None:
    shown, want = background(pane), expected_colours(scores, signed)
    assert len(shown) == len(want)
    assert max(abs(a - b) for s, w in zip(shown, want) for a, b in zip(s, w)) <= 2, (shown, want)


def record(root_dir, run: str, step: int, method: str, probe: int) -> dict:
    """The run's attribution row (records.jsonl also holds alert rows) of one step, method and probe."""
    rows = (r for r in records(root_dir, run) if r.get("kind") == "attribution")
    return next(r for r in rows if (r["step"], r["method"], r["probe"]) == (step, method, probe))


def method_shown(root) -> str:
    return root.locator("select[data-gc=method]").input_value()


def test_tokens_hover_and_slider_recolour_in_place(surface, root_dir):
    root = surface.viewer(CLASSIFIER)
    pane, i = root.locator(".gc-pane").first, probe_shown(root)
    # opens on the alert (step 0: "names" crossed its threshold), on the method it was raised on, and on
    # its probe, the one holding "atiku"
    method = method_shown(root)
    assert (step_shown(root), i, method) == (0, 0, "integrated_gradients")
    signed = True  # integrated gradients: red for negative scores
    set_step(root, surface, "End", 2)
    last = record(root_dir, "classifier", 2, method, i)
    tokens = pane.locator("[data-gc=token]")
    assert tokens.count() == len(last["tokens"]) and tokens.all_text_contents() == last["tokens"]
    scores = np.asarray(last["scores"])
    j = int(np.argmax(np.abs(scores)))
    tokens.nth(j).hover()
    tip = root.locator("[data-gc=tooltip]")
    expect(tip).to_be_visible()
    lines = tip.locator("div").all_text_contents()
    assert lines[0] == last["tokens"][j] and lines[2] == f"rank 1 of {len(scores)}"
    assert float(lines[1].removeprefix("score ")) == pytest.approx(scores[j], rel=2e-3)
    assert float(lines[3].removeprefix("share ").rstrip("%")) == pytest.approx(
        100 * abs(scores[j]) / np.abs(scores).sum(), abs=0.06)
    assert_colours(pane, scores, signed=signed)
    tokens.evaluate_all("els => els.forEach(e => { e.gcMark = 1; })")
    set_step(root, surface, "Home", 0)
    first = record(root_dir, "classifier", 0, method, i)
    assert_colours(pane, first["scores"], signed=signed)
    assert background(pane) != expected_colours(scores, signed)  # the step's own scores, not the last step's
    assert tokens.evaluate_all("els => els.every(e => e.gcMark === 1)")  # recoloured in place


def test_arrow_keys_methods_side_by_side_and_diff(surface, root_dir):
    root = surface.viewer(CLASSIFIER)
    i = probe_shown(root)
    set_step(root, surface, "Home", 0)
    root.locator("[data-gc=header]").click()  # focus out of the controls: arrow keys move the step
    surface.page.keyboard.press("ArrowRight")
    idle(root)
    assert step_shown(root) == 1
    root.locator("select[data-gc=method]").select_option("integrated_gradients")
    idle(root)
    pane = root.locator(".gc-pane").first
    expect(pane.locator(".gc-pane-title")).to_have_text("integrated_gradients at step 1")
    assert_colours(pane, record(root_dir, "classifier", 1, "integrated_gradients", i)["scores"], signed=True)
    root.locator("select[data-gc=compare]").select_option("gradient_norm")
    idle(root)
    panes = root.locator(".gc-pane")
    assert panes.count() == 2
    assert_colours(panes.nth(1), record(root_dir, "classifier", 1, "gradient_norm", i)["scores"], signed=False)
    root.locator("select[data-gc=diff]").select_option("first")
    idle(root)
    now, before = (np.asarray(record(root_dir, "classifier", s, "integrated_gradients", i)["scores"]) for s in (1, 0))
    assert_colours(panes.first, now - before, signed=True)
    expect(panes.first.locator(".gc-pane-title")).to_have_text("integrated_gradients at step 1, minus step 0")
    for control, value in (("diff", ""), ("compare", ""), ("method", "gradient_norm")):
        root.locator(f"select[data-gc={control}]").select_option(value)
        idle(root)


def visible_rows(root) -> list[int]:
    return [int(x) for x in root.locator("[data-gc=probe-row]:visible").evaluate_all(
        "els => els.map(e => e.getAttribute('data-i'))")]


def test_search_filters_sort_and_token_table(surface, root_dir):
    root = surface.viewer(CLASSIFIER)
    set_step(root, surface, "End", 2)
    rows = [record(root_dir, "classifier", 2, method_shown(root), p) for p in range(len(TEXTS))]
    search = root.locator("[data-gc=search]")
    for query in ("awful", "##ik", "the", "political"):
        search.fill(query)
        idle(root)
        want = [p for p, r in enumerate(rows) if query in TEXTS[p] or query in r["tokens"]]
        assert visible_rows(root) == want, query
    search.fill("")
    root.locator("[data-gc=misclassified]").check()
    idle(root)
    assert visible_rows(root) == [p for p, r in enumerate(rows) if r["prediction"]["label"] != r["label"]]
    root.locator("[data-gc=misclassified]").uncheck()
    root.locator("select[data-gc=sort]").select_option("conf-desc")
    idle(root)
    confidence = [round(r["prediction"]["probability"], 4) for r in rows]
    assert visible_rows(root) == sorted(range(len(rows)), key=lambda p: (-confidence[p], p))
    root.locator("select[data-gc=sort]").select_option("index")
    root.locator(".gc-table summary").click()
    table = root.locator("[data-gc=table-row]")
    expect(table.first).to_be_visible()
    shares: dict[str, float] = {}
    for r in rows:
        mass = np.abs(r["scores"]) / np.abs(r["scores"]).sum()
        for token, share in zip(r["tokens"], mass):
            shares[token] = shares.get(token, 0.0) + share / len(rows)
    assert table.first.locator("td").first.text_content() == max(shares, key=shares.get)
    root.locator("[data-gc=sort-token]").click()  # sortable: by token, A to Z
    idle(root)
    assert table.first.locator("td").first.text_content() == min(shares)
    root.locator(".gc-table summary").click()


def test_alerted_filter_at_the_alert_step(surface):
    root = surface.viewer(CLASSIFIER)
    set_step(root, surface, "Home", 0)
    expect(root.locator(".gc-alert")).to_contain_text("group 'names'")
    root.locator("[data-gc=alerted]").check()
    idle(root)
    assert visible_rows(root) == [0]  # the only probe with the alerted group's tokens ("atiku")
    root.locator("[data-gc=alerted]").uncheck()
    idle(root)


def test_word_merge_and_question_answering(surface, root_dir):
    root = surface.viewer(CLASSIFIER)
    root.locator("[data-gc=probe-row][data-i='0']").click()
    idle(root)
    root.locator("[data-gc=merge]").check()
    idle(root)
    tokens = record(root_dir, "classifier", 2, "gradient_norm", 0)["tokens"]
    words = root.locator(".gc-pane").first.locator("[data-gc=token]")
    assert words.count() == sum(not t.startswith("##") for t in tokens) and "atiku" in words.all_text_contents()
    root.locator("[data-gc=merge]").uncheck()
    idle(root)
    root = surface.viewer(QA)
    qa = record(root_dir, "qa", 0, "gradient_x_input", 0)
    pane = root.locator(".gc-pane").first
    assert pane.locator("[data-gc=token]").count() == len(qa["tokens"])
    assert pane.locator(".gc-sep").count() == 1  # question | context
    start, end = qa["prediction"]["span"]
    assert pane.locator(".gc-span").all_text_contents() == qa["tokens"][start:end + 1]
    before_separator = pane.locator(".gc-text > *").evaluate_all(
        "els => els.slice(0, els.findIndex(e => e.classList.contains('gc-sep'))).map(e => e.textContent)")
    assert before_separator == qa["tokens"][:qa["tokens"].index("[SEP]") + 1]


def test_hostile_text_shows_literally(surface):
    root = surface.viewer(HOSTILE_RUN)
    tokens = root.locator(".gc-pane").first.locator("[data-gc=token]")
    assert tokens.all_text_contents() == ["[CLS]", *HOSTILE, "sky", "[SEP]"]
    assert root.locator("[data-gc=probe-row]").first.text_content().endswith(" ".join(HOSTILE) + " sky")
    expect(root.locator(".gc-alert")).to_contain_text("<img src=x onerror=window.__pwned=2>")
    assert root.locator("img, b, script").count() == 0  # no element made from the text
    assert surface.frame.evaluate("typeof window.__pwned") == "undefined"
    root.locator("[data-gc=search]").fill("</script>")  # a token search finds it, literally
    idle(root)
    assert visible_rows(root) == [0]
    root.locator("[data-gc=search]").fill("")


class Plugin:
    """The plugin's routes as a fresh tab's fetches reach them: answers held back until released (a
    slow fetch, on purpose), or rewritten (what a newer server would send)."""

    def __init__(self, page):
        self.page, self.hold, self.held, self.rewrite = page, None, [], {}
        page.route(lambda url: "/data/plugin/gradcallback/" in url, self._route)

    def _route(self, route):
        url = urllib.parse.urlparse(route.request.url)
        name, query = url.path.rsplit("/", 1)[-1], dict(urllib.parse.parse_qsl(url.query))
        if self.hold is not None and name == "payload" and self.hold.items() <= query.items():
            self.held.append(route)
        elif name in self.rewrite:
            self.rewrite[name](route, query)
        else:
            route.continue_()

    def slow(self, **query) -> None:
        """Hold back the next payload answers matching `query` (run, method, step) until `release`."""
        self.hold = {k: str(v) for k, v in query.items()}

    def wait_held(self) -> None:
        for _ in range(200):
            if self.held:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"no payload request matching {self.hold} arrived")

    def release(self) -> None:
        self.hold, held, self.held = None, self.held, []
        for route in held:
            route.continue_()


@pytest.fixture
def fresh_tab(surface, browser):
    """A new page on the TensorBoard surface's server (its own cache and context) and its Plugin routes;
    call the returned function to open the tab once the routes are set up."""
    if surface.kind != "tensorboard":
        pytest.skip("This check needs a server: the HTML report inlines its data, so no fetch is there to slow down.")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    plugin = Plugin(page)

    def open_root():
        root = open_tab(page, surface.port).locator(".gc-root")
        expect(root).to_have_attribute("data-gc-ready", "1", timeout=60000)
        idle(root)
        return root

    yield page, plugin, open_root
    page.close()
    assert errors == []


def title(root) -> str:
    return root.locator(".gc-pane-title").first.text_content()


def test_an_older_answer_never_paints_over_a_newer_action(fresh_tab, root_dir):
    """Each action's fetch held back while a newer action paints: once released, the newer one stays."""
    page, plugin, open_root = fresh_tab
    root = open_root()
    assert (title(root), probe_shown(root)) == ("integrated_gradients at step 0", 0)  # the alert's step, method, probe
    method, diff = root.locator("select[data-gc=method]"), root.locator("select[data-gc=diff]")
    method.select_option("gradient_norm")
    idle(root)
    # A step: step 1 slow, then a move on to step 2.
    plugin.slow(method="gradient_norm", step=1)
    root.locator("[data-gc=header]").click()  # out of the controls: arrow keys move the step
    page.keyboard.press("ArrowRight")
    plugin.wait_held()
    page.keyboard.press("ArrowRight")  # from the step asked for (1), not the one shown (0)
    expect(root.locator("[data-gc=step]")).to_have_attribute("data-value", "2")
    plugin.release()
    idle(root)
    assert (step_shown(root), title(root)) == (2, "gradient_norm at step 2")
    assert_colours(root.locator(".gc-pane").first,
                   record(root_dir, "classifier", 2, "gradient_norm", 0)["scores"], False)
    # A method: integrated_gradients slow, then back to gradient_norm (cached, painted at once).
    plugin.slow(method="integrated_gradients", step=2)
    method.select_option("integrated_gradients")
    plugin.wait_held()
    method.select_option("gradient_norm")
    plugin.release()
    idle(root)
    assert (method.input_value(), title(root)) == ("gradient_norm", "gradient_norm at step 2")
    assert_colours(root.locator(".gc-pane").first,
                   record(root_dir, "classifier", 2, "gradient_norm", 0)["scores"], False)
    # A diff: integrated_gradients (cached now) diffed against its slow previous step, then no diff.
    method.select_option("integrated_gradients")
    idle(root)
    plugin.slow(method="integrated_gradients", step=1)
    diff.select_option("previous")
    plugin.wait_held()
    diff.select_option("")
    plugin.release()
    idle(root)
    assert title(root) == "integrated_gradients at step 2"  # not "..., minus step 1"
    assert_colours(root.locator(".gc-pane").first,
                   record(root_dir, "classifier", 2, "integrated_gradients", 0)["scores"], True)
    # A run: the QA run slow, then back to the classifier, which opens again on its alert step.
    plugin.slow(run=QA)
    root.locator("select[data-gc=run]").select_option(QA)
    plugin.wait_held()
    root.locator("select[data-gc=run]").select_option(CLASSIFIER)
    plugin.release()
    idle(root)
    assert root.locator("select[data-gc=run]").input_value() == CLASSIFIER
    assert root.locator("[data-gc=probe-row]").count() == len(TEXTS)
    # picked: kept
    assert (step_shown(root), probe_shown(root), title(root)) == (0, 0, "integrated_gradients at step 0")
    tokens = root.locator(".gc-pane").first.locator("[data-gc=token]").all_text_contents()
    assert tokens == record(root_dir, "classifier", 0, "integrated_gradients", 0)["tokens"]


def structured_alerts(route, query):
    """The classifier's payloads as a newer writer makes them: alerts as records naming their method."""
    body = route.fetch().body()
    if query.get("run") != CLASSIFIER:
        return route.fulfill(status=200, content_type="application/octet-stream", body=body)
    header, arrays = payload.decode(body)
    alerts = [{"monitor": "SpuriousGroups", "subject": "names", "step": header["step"], "statistic": "share",
               "value": 0.6, "limit": 0.0, "action": "warn", "method": "integrated_gradients",
               "message": "group 'names' holds <b>60%</b> on integrated_gradients", "tag": a["tag"]}
              for a in header["alerts"]]
    head = {k: v for k, v in header.items() if k != "arrays"}
    route.fulfill(status=200, content_type="application/octet-stream",
                  body=payload._pack({**head, "alerts": alerts}, {name: arrays[name] for name in header["arrays"]}))


def alert_methods(route, query):
    """A steps answer as a newer plugin sends it: alert_methods beside alert_steps."""
    answer = route.fetch().json()
    if query.get("run") == CLASSIFIER:
        answer["alert_methods"] = [["integrated_gradients"] for _ in answer["alert_steps"]]
    route.fulfill(json=answer)


@pytest.mark.parametrize("where", ["steps answer", "payload alerts"])
def test_a_run_opens_on_the_method_its_alert_names(fresh_tab, root_dir, where):
    page, plugin, open_root = fresh_tab
    if where == "steps answer":
        plugin.rewrite["steps"] = alert_methods
    else:  # a server without alert_methods: the viewer reads the alert step's payload
        plugin.rewrite["payload"] = structured_alerts
    root = open_root()
    assert root.locator("select[data-gc=method]").input_value() == "integrated_gradients"
    assert (title(root), probe_shown(root)) == ("integrated_gradients at step 0", 0)
    assert_colours(root.locator(".gc-pane").first,
                   record(root_dir, "classifier", 0, "integrated_gradients", 0)["scores"], True)
    if where == "payload alerts":  # the record's message, as text
        expect(root.locator(".gc-alert").first).to_have_text(
            "[spurious/alerts] group 'names' holds <b>60%</b> on integrated_gradients")
        assert root.locator(".gc-alert b").count() == 0


def test_benchmark_script_smoke(tmp_path):
    """benchmarks/dashboard.py end to end on a tiny run (figures not asserted): it cannot rot, and it
    replaces only its own section of RESULTS.md."""
    import os
    import subprocess
    import sys

    from dashboard_support import ROOT

    out, other = tmp_path / "RESULTS.md", "# Benchmark results\n\n| measure | value |\n|---|---|\n| other | 1 |\n"
    stale = "<!-- dashboard benchmark: start -->\n## Attributions dashboard\nstale\n<!-- dashboard benchmark: end -->\n"
    out.write_text(other + "\n" + stale + "\n## Later section\n")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dashboard.py"), "--probes", "8", "--steps", "3",
                    "--out", str(out)], check=True, capture_output=True, timeout=300,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    text = out.read_text()
    assert text.startswith(other) and text.endswith("\n## Later section\n") and "stale" not in text
    assert text.count("## Attributions dashboard") == 1  # replaced in place
    for measure in ("bytes per logged step and method, 8 probes", "first paint of the tab, fresh server",
                    "slider step to the next step", "slider jump to a far step", "search over 8 probes"):
        assert f"| {measure}" in text, measure
