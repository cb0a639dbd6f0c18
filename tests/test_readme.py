"""Every fenced Python and shell block of README.md runs, as written or with a fixture the README names.

The convention, for whoever adds a README block:

- A ```python block, or a ```bash / ```sh / ```shell one, with no marker must run as written. The Python
  blocks of one section (the nearest heading above) run in order in one namespace, in one process with the
  other sections (a section whose code sets KERAS_BACKEND runs after, in a process of the backend it
  picks, shared with the other sections picking it); the shell blocks then run with bash, each on its own,
  in the same folder, with the `gradcallback` command on the PATH.
- `<!-- readme-test: fixture NAME -->` on the line right above the fence (blank lines between are fine) runs
  the block after fixture NAME is bound: `tests/readme_fixtures.py` lists them (tiny_minilm, tiny_bert,
  tiny_gpt2, tiny_loop, demo_run) and says what each stands in for. Several: `fixture NAME, NAME`.
- `<!-- readme-test: skip: A sentence saying why. -->` skips the block (installs, servers, hour-long runs);
  the reason is shown as the test's skip reason.
- Blocks in other languages (plain ``` output, ```text) are not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from readme_fixtures import NAMES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PYTHON, SHELL = ("python",), ("bash", "sh", "shell")
FENCE = re.compile(r"^```([\w+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->$")


@dataclass(frozen=True)
class Block:
    line: int  # the fence's line in README.md, 1-based
    language: str
    code: str
    section: str
    marker: str  # the marker's text after "readme-test:", "" for none

    @property
    def fixtures(self) -> list[str]:
        match = re.fullmatch(r"fixture\s+([\w\s,]+)", self.marker)
        return [name.strip() for name in match.group(1).split(",")] if match else []

    @property
    def skip_reason(self) -> str | None:
        match = re.fullmatch(r"skip:\s*(.+)", self.marker, re.S)
        return match.group(1) if match else None


def parse(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with their section and marker."""
    lines, blocks, section, i = text.splitlines(), [], "", 0
    while i < len(lines):
        if lines[i].startswith("#") and not lines[i].startswith("#!"):
            section = lines[i].lstrip("#").strip()
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(Block(i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n", section, _marker(lines, i)))
        i = end + 1
    return blocks


def _marker(lines: list[str], fence: int) -> str:
    above = next((lines[j].strip() for j in range(fence - 1, -1, -1) if lines[j].strip()), "")
    match = MARKER.match(above)
    return match.group(1) if match else ""


BLOCKS = [b for b in parse(README.read_text(encoding="utf-8")) if b.language in PYTHON + SHELL]


def _environment() -> dict:
    env = dict(os.environ, GRADCALLBACK_STRICT="0", HF_HUB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)  # the blocks run on Keras' default (TensorFlow) unless they pick one
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


BACKEND = re.compile(r"""KERAS_BACKEND["']\s*(?:\]\s*=|,)\s*["'](\w+)["']""")


def _processes(blocks: list[Block]) -> list[list[list[Block]]]:
    """Python blocks grouped by section; sections that set KERAS_BACKEND after, in a process per backend
    they pick (sections picking the same one share it, as the TensorFlow ones share the first: a process
    start and a backend's import cost seconds)."""
    sections: dict[str, list[Block]] = {}
    for block in blocks:
        if block.language in PYTHON and block.skip_reason is None:
            sections.setdefault(block.section, []).append(block)
    own: dict[str, list[list[Block]]] = {}
    for section in sections.values():
        if any("KERAS_BACKEND" in b.code for b in section):
            named = next((m.group(1) for b in section for m in [BACKEND.search(b.code)] if m), section[0].section)
            own.setdefault(named, []).append(section)
    shared = [s for s in sections.values() if not any(s in group for group in own.values())]
    return [shared, *own.values()]


def run_python(blocks: list[Block], workdir: Path, prepare: list[str], env: dict) -> dict[int, dict]:
    """Runs the blocks' sections in processes of tests/readme_runner.py; {line: result}."""
    results = {}
    for number, sections in enumerate(_processes(blocks)):
        plan = {"workdir": str(workdir), "prepare": prepare if number == 0 else [],
                "sections": [{"title": s[0].section, "blocks": [
                    {"line": b.line, "code": b.code, "fixtures": b.fixtures} for b in s]} for s in sections]}
        plan_file, result_file = workdir / f"plan_{number}.json", workdir / f"results_{number}.json"
        plan_file.write_text(json.dumps(plan), encoding="utf-8")
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "readme_runner.py"), str(plan_file),
                               str(result_file)], env=env, cwd=workdir, capture_output=True, text=True,
                              timeout=600, check=False)
        if not result_file.exists():
            raise AssertionError(f"the README runner died (exit {done.returncode}):\n{done.stderr[-4000:]}")
        results.update({int(line): r for line, r in json.loads(result_file.read_text(encoding="utf-8")).items()})
    return results


def run_shell(block: Block, workdir: Path, env: dict) -> dict:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=300, check=False)
    return {"ok": done.returncode == 0, "error": f"exit {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict[int, dict]:
    """Runs every README block that is not skip-marked, once: {fence line: {"ok", "error"}}."""
    workdir, env = tmp_path_factory.mktemp("readme"), _environment()
    runnable = [b for b in BLOCKS if b.skip_reason is None]
    prepare = sorted({name for b in runnable for name in b.fixtures})
    results = run_python(runnable, workdir, prepare, env)
    for block in runnable:
        if block.language in SHELL:
            results[block.line] = run_shell(block, workdir, env)
    return results


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_readme_block_runs(block, request):
    if block.skip_reason is not None:
        pytest.skip(f"README.md:{block.line}: {block.skip_reason}")
    result = request.getfixturevalue("executed")[block.line]  # run once, by the first block not skipped
    assert result["ok"], f"README.md:{block.line} ({block.section}) failed:\n{result['error']}"


def test_markers_name_known_fixtures_and_give_sentences():
    for block in BLOCKS:
        where = f"README.md:{block.line}: <!-- readme-test: {block.marker} -->"
        assert not block.marker or block.fixtures or block.skip_reason, f"{where}: expected `fixture NAME`, `skip: why`"
        assert set(block.fixtures) <= set(NAMES), f"{where}: fixtures are {NAMES}"
        if block.skip_reason is not None:
            assert re.fullmatch(r"[A-Z`].{15,}[.!]", block.skip_reason), f"{where}: the reason must be a sentence"


def test_readme_test_command_is_what_ci_runs():
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == ["make test"]
    two_commands = next(b for b in BLOCKS if b.section == "Two commands")
    assert re.search(r"^make test\b.*\.ci/run", two_commands.code, re.M)


def test_the_parser_reads_markers_sections_and_languages():
    text = ("# A\n```python\nx = 1\n```\n## B\n<!-- readme-test: fixture tiny_bert, tiny_gpt2 -->\n\n```bash\n"
            "echo hi\n```\n<!-- readme-test: skip: Installs things. -->\n```sh\nmake\n```\n```\nout\n```\n")
    blocks = parse(text)
    assert [(b.line, b.language, b.section) for b in blocks] == [(2, "python", "A"), (8, "bash", "B"),
                                                               (12, "sh", "B"), (15, "", "B")]
    assert blocks[0].code == "x = 1\n" and blocks[0].marker == ""
    assert blocks[1].fixtures == ["tiny_bert", "tiny_gpt2"] and blocks[2].skip_reason == "Installs things."


def test_a_failing_block_fails_and_stops_its_section(tmp_path):
    blocks = parse("# S\n```python\nvalue = 41\n```\n```python\nraise ValueError(value + 1)\n```\n"
                   "```python\nprint('never')\n```\n# T\n```python\nassert 'value' not in globals()\n```\n"
                   "```bash\nfalse\n```\n")
    env = _environment()
    results = run_python(blocks, tmp_path, [], env)
    assert results[2]["ok"] and results[12]["ok"]  # a new section starts from an empty namespace
    assert not results[5]["ok"] and "README.md:5" in results[5]["error"] and "ValueError: 42" in results[5]["error"]
    assert not results[8]["ok"] and "README.md:5 failed first" in results[8]["error"]
    assert not run_shell(blocks[-1], tmp_path, env)["ok"] and shutil.which("bash")
