"""`gradcallback report`: a run's story per logged step, as a console table, JSON or one HTML file.

Built from what the callback wrote (`runs.read_run`), so it works after training, on another
machine, without TensorBoard.
"""

from __future__ import annotations

import math
from typing import Any

from ..alerts import Alert
from ..analysis.coverage import kind_labels, percents
from ..io.runs import Run, top_tokens
from ..views.plain import table, terminal_width, wrap


def summarize(run: Run, k: int = 5) -> dict[str, Any]:
    """JSON-ready: per step its scalars, alerts (`Alert.as_dict()` and its "tag", from records.jsonl), the
    earlier alerts whose figure is still past its limit ("still_over") and top tokens per method; coverage
    at train begin ("coverage": its scalars; "word_coverage": each part's shares, from the records)."""
    steps, coverage_tags, held = [], _coverage_prefixes(run), still_over(run)
    for step in run.steps:
        scalars = {tag: values[step] for tag, values in sorted(run.scalars.items())
                   if step in values and not tag.startswith(coverage_tags)}
        alerts = [{**a.as_dict(), "tag": a.tag} for a in run.alerts if a.step == step]
        tops = {m: [[t, round(s, 4)] for t, s in top_tokens(run, m, step, k)] for m in run.methods}
        steps.append({"step": step, "epoch": run.epoch_of(step), "scalars": scalars, "alerts": alerts,
                      "still_over": held.get(step, []), "top_tokens": {m: t for m, t in tops.items() if t}})
    coverage = {tag: next(iter(values.values())) for tag, values in sorted(run.scalars.items())
                if tag.startswith(coverage_tags)}
    word_coverage = [{key: r[key] for key in ("monitor", "part", "min_pieces", "summary")}
                     for r in run.monitor_records if r["kind"] == "coverage"]
    return {"run": str(run.folder), "methods": run.methods, "coverage": coverage, "word_coverage": word_coverage,
            "steps": steps, "monitors": run.info.get("monitors", []), "backend": run.info.get("backend"),
            "step_axis": run.info.get("step_axis")}


def _coverage_prefixes(run: Run) -> tuple[str, ...]:
    """The coverage scalars' tag prefixes: every VocabularyCheck's name (run.json), "vocabulary" by default."""
    names = [m["name"] for m in run.info.get("monitors", []) if m.get("class") == "VocabularyCheck"] or ["vocabulary"]
    return tuple(f"{name}/{part}/" for name in names for part in ("probes", "training_texts"))


def still_over(run: Run) -> dict[int, list[dict[str, Any]]]:
    """Step -> the alerts fired earlier whose figure is still past their limit there (an alert fires once,
    when its figure crosses). An alert's figure is the monitor's report column that holds the alert's
    value at its step; alerts without a value or limit, or without such a column, are left out."""
    out: dict[int, list[dict[str, Any]]] = {}
    for alert in run.alerts:
        series = _series_of(run, alert)
        if series is None:
            continue
        side = 1 if alert.value > alert.limit else -1
        refired = [a.step for a in run.alerts if (a.monitor, a.subject) == (alert.monitor, alert.subject)
                   and a.step > alert.step]
        for step in sorted(s for s in series if alert.step < s < min(refired, default=math.inf)):
            if (series[step] - alert.limit) * side > 0:
                out.setdefault(step, []).append({"monitor": alert.monitor, "subject": alert.subject,
                                                 "fired_at": alert.step, "value": series[step], "limit": alert.limit})
    return out


def _series_of(run: Run, alert: Alert) -> dict[int, float] | None:
    """The scalar series of the alert's monitor's report columns whose value at the alert's step is its value."""
    if alert.value is None or alert.limit is None or alert.value == alert.limit:
        return None
    tags = [tag for m in run.info.get("monitors", []) if m["name"] == alert.monitor for _, tag in m["columns"]]
    return next((run.scalars[t] for t in tags if t in run.scalars and alert.step in run.scalars[t]
                 and math.isclose(run.scalars[t][alert.step], alert.value, rel_tol=1e-5, abs_tol=1e-7)), None)


def alert_line(alert: dict[str, Any]) -> str:
    """An alert of `summarize` in one line: who, the figures, action and method, then the message."""
    return f"{Alert.from_dict(alert).summary()} -- {alert['message']}"


def alerts_cell(step: dict[str, Any]) -> str:
    """The alerts column of a step: "1 fired", "still over" (an earlier alert's figure), both, or "0"."""
    fired, held = len(step["alerts"]), len(step["still_over"])
    parts = ([f"{fired} fired"] if fired else []) + ([f"{held} still over" if held > 1 else "still over"]
                                                    if held else [])
    return ", ".join(parts) or "0"


ALERTS_LEGEND = ("alerts: fired at that step; \"still over\": the figure of an earlier alert is still past its "
                 "limit (an alert fires once, when its figure crosses the limit)")


def columns(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(header, scalar tag) of the per-step table: the figures a reader checks first."""
    tags = {tag for s in summary["steps"] for tag in s["scalars"]}
    wanted = [("accuracy", "probes/accuracy"), ("confidence", "probes/mean_confidence")]
    wanted += [(f"{method} stability", f"{method}/rank_stability") for method in summary["methods"]]
    # Each monitor names its own columns (run.json), user-written monitors included.
    wanted += [(header, tag) for monitor in summary.get("monitors", []) for header, tag in monitor["columns"]]
    return [(header, tag) for header, tag in dict.fromkeys(wanted) if tag in tags]


def step_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The per-step table as text cells: (header, rows), the console's and the HTML report's."""
    cols = columns(summary)
    header = ["step", "epoch"] + [h for h, _ in cols] + ["alerts"]
    rows = [[str(s["step"]), "" if s["epoch"] is None else str(s["epoch"])]
            + [format_number(s["scalars"].get(tag)) for _, tag in cols] + [alerts_cell(s)] for s in summary["steps"]]
    return header, rows


def coverage_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """Word coverage at train begin as (header, rows), each row's shares adding up to 100%: from the
    coverage records, or for older runs from the scalars with what they leave out as "other"."""
    if summary.get("word_coverage"):
        pieces = {r["min_pieces"] for r in summary["word_coverage"]}
        labels = kind_labels(max(pieces))  # monitors cutting at other counts say theirs in the row's name
        rows = [[f"{r['monitor']} {r['part'].replace('_', ' ')}"
                 + (f" (fragmented: {r['min_pieces']}+)" if len(pieces) > 1 else ""),
                 *percents({k: r["summary"]["by_frequency"].get(k, 0.0) for k in labels}).values()]
                for r in summary["word_coverage"]]
    elif summary["coverage"]:
        labels = {"whole": "whole", "fragmented": "fragmented", "unknown": "unknown", "other": "other"}
        parts: dict[str, dict[str, float]] = {}
        for tag, value in summary["coverage"].items():
            where, kind = tag.rsplit("/", 1)
            parts.setdefault(where.replace("/", " ").replace("_", " "), {})[kind.removesuffix("_share")] = value
        rows = [[name, *percents({k: shares.get(k, 0.0) for k in labels if k != "other"}
                                 | {"other": max(1.0 - sum(shares.values()), 0.0)}).values()]
                for name, shares in parts.items()]
    else:
        return None
    return ["word occurrences", *labels.values(), "total"], [
        [*row, f"{sum(float(v[:-1]) for v in row[1:]):.1f}%"] for row in rows]


COVERAGE_NOTE = ("Coverage counts words; the per-step \"attribution on fragmented words\" is the share of "
                 "attribution mass on their pieces.")


def as_text(summary: dict[str, Any], width: int | None = None) -> str:
    """A plain-text report within `width` columns (the terminal's by default): per-step table, coverage,
    alerts, top tokens at the last step."""
    width = width or terminal_width()
    header, rows = step_rows(summary)
    about = ", ".join(f"{m['name']} ({m['method']})" for m in summary.get("monitors", []))
    lines = wrap(f"run: {summary['run']}" + (f"  [monitors: {about}]" if about else ""), width, "  ")
    lines += ["", *table(header, rows, width, left=(len(header) - 1,), keep=2)]
    if any(s["alerts"] or s["still_over"] for s in summary["steps"]):
        lines += wrap(ALERTS_LEGEND, width, "  ")
    cover = coverage_rows(summary)
    if cover:
        lines += ["", *wrap("Word coverage at train begin:", width), *table(*cover, width, left=(0,)),
                  *wrap(COVERAGE_NOTE, width)]
    alerts = [line for s in summary["steps"] for a in s["alerts"]
              for line in wrap(f"ALERT step {s['step']} {alert_line(a)}", width, "  ")]
    lines += ["", *alerts] if alerts else []
    if summary["steps"]:
        last = summary["steps"][-1]
        lines += [""] if last["top_tokens"] else []
        for method, tokens in last["top_tokens"].items():
            lines += wrap(f"top tokens at step {last['step']} ({method}): "
                          + ", ".join(f"{t} {share:.1%}" for t, share in tokens), width, "  ")
    return "\n".join(lines)


def format_number(value: float | None) -> str:
    """A report cell: "-" for None, nan/inf as written, whole numbers beyond 1 without decimals, else 3 decimals."""
    if value is None or not math.isfinite(value):
        return "-" if value is None else str(value)
    return str(int(value)) if float(value).is_integer() and abs(value) > 1 else f"{value:.3f}"
