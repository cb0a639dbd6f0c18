"""`gradcallback report`: a run's story per logged step, as a console table, JSON or one HTML file.

Built from what the callback wrote (`runs.read_run`), so it works after training, on another
machine, without TensorBoard.
"""

from __future__ import annotations

import math
from typing import Any

from ..alerts import Alert
from ..io.runs import Run, top_tokens


def summarize(run: Run, k: int = 5) -> dict[str, Any]:
    """JSON-ready: per step its scalars, alerts (`Alert.as_dict()` and its "tag", from records.jsonl) and
    top tokens per method; coverage at train begin."""
    steps, coverage_tags = [], _coverage_prefixes(run)
    for step in run.steps:
        scalars = {tag: values[step] for tag, values in sorted(run.scalars.items())
                   if step in values and not tag.startswith(coverage_tags)}
        alerts = [{**a.as_dict(), "tag": a.tag} for a in run.alerts if a.step == step]
        tops = {m: [[t, round(s, 4)] for t, s in top_tokens(run, m, step, k)] for m in run.methods}
        steps.append({"step": step, "epoch": run.epoch_of(step), "scalars": scalars, "alerts": alerts,
                      "top_tokens": {m: t for m, t in tops.items() if t}})
    coverage = {tag: next(iter(values.values())) for tag, values in sorted(run.scalars.items())
                if tag.startswith(coverage_tags)}
    return {"run": str(run.folder), "methods": run.methods, "coverage": coverage, "steps": steps,
            "monitors": run.info.get("monitors", []), "backend": run.info.get("backend"),
            "step_axis": run.info.get("step_axis")}


def _coverage_prefixes(run: Run) -> tuple[str, ...]:
    """The coverage scalars' tag prefixes: every VocabularyCheck's name (run.json), "vocabulary" by default."""
    names = [m["name"] for m in run.info.get("monitors", []) if m.get("class") == "VocabularyCheck"] or ["vocabulary"]
    return tuple(f"{name}/{part}/" for name in names for part in ("probes", "training_texts"))


def alert_line(alert: dict[str, Any]) -> str:
    """An alert of `summarize` in one line: who, the figures, action and method, then the message."""
    return f"{Alert.from_dict(alert).summary()} -- {alert['message']}"


def columns(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(header, scalar tag) of the per-step table: the figures a reader checks first."""
    tags = {tag for s in summary["steps"] for tag in s["scalars"]}
    wanted = [("accuracy", "probes/accuracy"), ("confidence", "probes/mean_confidence")]
    wanted += [(f"{method} stability", f"{method}/rank_stability") for method in summary["methods"]]
    # Each monitor names its own columns (run.json), user-written monitors included.
    wanted += [(header, tag) for monitor in summary.get("monitors", []) for header, tag in monitor["columns"]]
    return [(header, tag) for header, tag in dict.fromkeys(wanted) if tag in tags]


def as_text(summary: dict[str, Any]) -> str:
    """A plain-text report: per-step table, coverage, alerts, top tokens at the last step."""
    cols = columns(summary)
    header = ["step", "epoch"] + [h for h, _ in cols] + ["alerts"]
    rows = [[str(s["step"]), "" if s["epoch"] is None else str(s["epoch"])]
            + [format_number(s["scalars"].get(tag)) for _, tag in cols] + [str(len(s["alerts"]))]
            for s in summary["steps"]]
    about = ", ".join(f"{m['name']} ({m['method']})" for m in summary.get("monitors", []))
    lines = [f"run: {summary['run']}" + (f"  [monitors: {about}]" if about else ""), "", *_aligned([header] + rows)]
    if summary["coverage"]:
        lines += ["", "coverage at train begin: " + ", ".join(
            f"{tag.split('/', 1)[-1]} {value:.1%}" for tag, value in summary["coverage"].items())]
    for s in summary["steps"]:
        lines += [f"ALERT step {s['step']} {alert_line(a)}" for a in s["alerts"]]
    if summary["steps"]:
        last = summary["steps"][-1]
        for method, tokens in last["top_tokens"].items():
            lines.append(f"top tokens at step {last['step']} ({method}): "
                         + ", ".join(f"{t} {share:.1%}" for t, share in tokens))
    return "\n".join(lines)


def format_number(value: float | None) -> str:
    """A report cell: "-" for None, nan/inf as written, whole numbers beyond 1 without decimals, else 3 decimals."""
    if value is None or not math.isfinite(value):
        return "-" if value is None else str(value)
    return str(int(value)) if float(value).is_integer() and abs(value) > 1 else f"{value:.3f}"


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
