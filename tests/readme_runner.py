"""Runs README Python blocks in this process, a section at a time (tests/test_readme.py starts it).

    python tests/readme_runner.py PLAN.json RESULTS.json

PLAN: {"workdir": folder, "prepare": [fixture names], "sections": [{"title", "blocks": [{"line", "code",
"fixtures"}]}]}. The blocks of a section share one namespace, in order, as a reader pastes them into one
session; each section starts from an empty one. A part of the callback switched off fails its block, as in the
suite, though the blocks run in the default (non-strict) mode a newcomer gets. RESULTS: {line: {"ok", "error",
"seconds", "cpu"}}: wall and CPU seconds, fixtures included.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path


def run_sections(plan: dict) -> dict:
    import readme_fixtures

    workdir = Path(plan["workdir"])
    os.chdir(workdir)
    for name in plan.get("prepare", []):
        readme_fixtures.prepare(name, workdir)
    results = {}
    for section in plan["sections"]:
        namespace, failed = {"__name__": "__main__"}, None
        for block in section["blocks"]:
            if failed is not None:
                results[block["line"]] = {"ok": False, "seconds": 0.0,
                                          "error": f"not run: the block at README.md:{failed} failed first"}
                continue
            results[block["line"]] = run_block(block, namespace, workdir)
            failed = None if results[block["line"]]["ok"] else block["line"]
    return results


def run_block(block: dict, namespace: dict, workdir: Path) -> dict:
    import readme_fixtures

    start, cpu = time.perf_counter(), time.process_time()
    try:
        for name in block["fixtures"]:
            namespace.update(readme_fixtures.bind(name, workdir))
        exec(compile(block["code"], f"README.md:{block['line']}", "exec"), namespace)  # noqa: S102 (the README's own code)
    except BaseException:  # noqa: BLE001 (a block's SystemExit is a failure too)
        return {"ok": False, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                "error": traceback.format_exc()}
    return {"ok": True, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "error": ""}


def main() -> None:
    from gradcallback.guard import SwitchedOffWarning

    warnings.filterwarnings("error", category=SwitchedOffWarning)
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    Path(sys.argv[2]).write_text(json.dumps(run_sections(plan)), encoding="utf-8")


if __name__ == "__main__":
    main()
