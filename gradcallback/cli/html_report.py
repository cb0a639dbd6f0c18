"""One self-contained HTML file for a run (`gradcallback report LOGDIR --html out.html`).

Images are inlined as data URIs, so the file can be mailed or attached to a ticket. Every
token and text goes through `html.escape`: a token like `<script>` shows literally. On top,
the Attributions viewer of the TensorBoard tab, with the run's dashboard data inlined: the same
modules (`dashboard/static/`), so the page behaves like the tab and opens from disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any

from ..dashboard.assets import bundle, static_text
from ..io.payload import alert_methods
from ..io.runs import Run
from .report import ALERTS_LEGEND, COVERAGE_NOTE, alert_line, coverage_rows, step_rows

# A table wider than the window scrolls inside its own box (.table-box), its first column (the step)
# fixed; headers wrap, so the per-step table of the demo's run fits 1280 px without scrolling.
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px;color:#222}
.table-box{max-width:100%;overflow-x:auto;margin:1em 0}.table-box table{margin:0}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td{white-space:nowrap}
th{background:#f3f3f3;max-width:9em;white-space:normal;vertical-align:bottom}
.table-box th:first-child,.table-box td:first-child{position:sticky;left:0;z-index:1;background:#fff}
.table-box th:first-child{background:#f3f3f3}.note{font-size:90%;color:#555}
.alert{background:#fff3cd;padding:6px 10px;margin:4px 0;border-left:4px solid #e0a800}
figure{margin:0 0 1em 0}figcaption{font-size:90%;color:#555}img{max-width:100%;border:1px solid #ddd}"""


def as_html(run: Run, summary: dict[str, Any]) -> str:
    """The whole page: per-step table, coverage, alerts, top tokens, last-step images per method."""
    parts = [f"<h1>gradcallback report</h1><p>run: <code>{escape(summary['run'])}</code>; methods: "
             f"{escape(', '.join(summary['methods']))}</p>", viewer(run), _step_table(summary)]
    cover = coverage_rows(summary)
    if cover:
        parts.append(f"<h2>Word coverage at train begin</h2>{boxed_table(*cover)}"
                     f'<p class="note">{escape(COVERAGE_NOTE)}</p>')
    alerts = [(s["step"], a) for s in summary["steps"] for a in s["alerts"]]
    if alerts:
        parts.append("<h2>Alerts</h2>" + "".join(
            f'<div class="alert">step {step} {escape(alert_line(a))}</div>'
            for step, a in alerts))
    parts.append(_top_tokens(summary))
    parts += [_images(run, method) for method in summary["methods"]]
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>gradcallback report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def boxed_table(header: list[str], rows: list[list[str]]) -> str:
    """A table in its own scroll box (`.table-box`): wider than the page, it scrolls there, first column fixed."""
    # a header may break after "_" (integrated_<wbr>gradients), so wide tables shrink to the page first
    head = "".join(f"<th>{escape(h).replace('_', '_<wbr>')}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="table-box"><table><tr>{head}</tr>{body}</table></div>'


def _step_table(summary: dict[str, Any]) -> str:
    note = any(s["alerts"] or s["still_over"] for s in summary["steps"])
    return ("<h2>Per logged step</h2>" + boxed_table(*step_rows(summary))
            + (f'<p class="note">{escape(ALERTS_LEGEND)}</p>' if note else ""))


def _top_tokens(summary: dict[str, Any]) -> str:
    if not summary["steps"]:
        return ""
    last = summary["steps"][-1]
    out = [f"<h2>Top tokens at step {last['step']}</h2><p>mean share of attribution mass per probe</p>"]
    for method, tokens in last["top_tokens"].items():
        out.append(f"<h3>{escape(method)}</h3><table><tr><th>token</th><th>share</th></tr>" + "".join(
            f"<tr><td>{escape(t)}</td><td>{share:.1%}</td></tr>" for t, share in tokens) + "</table>")
    return "".join(out)


def _images(run: Run, method: str) -> str:
    """The heatmap and evolution image of every probe at the method's last logged step."""
    figures = []
    for kind in ("heatmap", "evolution"):
        for tag in sorted(t for t in run.images if t.startswith(f"{method}/{kind}/")):
            step = max(run.images[tag])
            data = base64.b64encode(run.images[tag][step]).decode("ascii")
            figures.append(f'<figure><img alt="{escape(tag)}" src="data:image/png;base64,{data}">'
                           f"<figcaption>{escape(tag)} at step {step}</figcaption></figure>")
    return f"<h2>{escape(method)}</h2>" + "".join(figures) if figures else ""


def viewer(run: Run) -> str:
    """The interactive viewer with the run's per-step payloads inlined (base64 of the gzip bytes, decoded
    in the page on demand); empty for runs written before the dashboard existed."""
    if not run.dashboard:
        return ""
    data = {"runs": [{"run": "/".join(run.folder.parts[-2:]), "methods": {
        method: _inlined(steps) for method, steps in run.dashboard.items()}}]}
    # JSON in a <script> element: "<" as \u003c, so no text in it (a run name) can end the element.
    inline = json.dumps(data).replace("<", "\\u003c")
    digest = hashlib.sha1(str(run.folder).encode("utf-8"), usedforsecurity=False).hexdigest()
    element = "gc-viewer-" + digest[:12]  # one per run
    return (f"<h2>Attributions</h2><style>{static_text('viewer.css')}</style><div id=\"{element}\"></div>"
            f'<script type="application/json" id="{element}-data">{inline}</script>'
            f"<script type=\"module\">{bundle()}\nmount(document.getElementById({json.dumps(element)}), "
            f"inlineSource(JSON.parse(document.getElementById({json.dumps(element + '-data')}).textContent)));"
            "</script>")


def _inlined(steps: dict[int, bytes]) -> dict[str, Any]:
    """One method's series as the viewer's inline source reads it: the payloads, the alert steps and
    the methods their alerts name (`{"<step>": ["integrated_gradients"]}`, as the plugin's steps route)."""
    alerts = alert_methods(steps)
    return {"payloads": {str(step): base64.b64encode(blob).decode("ascii") for step, blob in sorted(steps.items())},
            "alert_steps": sorted(alerts), "alert_methods": {str(step): m for step, m in sorted(alerts.items())}}
