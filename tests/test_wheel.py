"""The wheel works: built as a release would be, installed into a clean virtual environment, served.

`python -m build` makes the sdist and then the wheel from that sdist (so a file the sdist lacks is
missing from the wheel too). The wheel must hold every file of the source tree's package (each
subpackage, the dashboard's static files, data/*.tsv) and the build must print no deprecation
warning. A fresh venv (no system site-packages) installs the wheel and its dependencies from the
package index, and `gradcallback tensorboard`, run from that venv outside the repository, serves the
Attributions tab's ES modules and stylesheet: the same bytes as the source files.

Needs the package index (for setuptools in the build's isolated environment and for the wheel's
dependencies); without it the test is skipped and says so. It takes 45 s on 2 idle cores with
the index on local disk (80 to 100 s with the cores busy), most of it creating the venv, building and
installing; through pypi.org, the first run also downloads about 100 MB (pip caches them).
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "gradcallback"  # gradcallback.dashboard.PLUGIN_NAME, kept literal: nothing is imported from the tree
# What the index must be able to give, and what to do when it cannot.
NO_INDEX = ("The package index is unreachable ({what}): this test installs setuptools>=77 and the wheel's "
            "dependencies (keras, tensorboard, numpy, pillow, google-crc32c) from it. Run it with network "
            "access to PyPI, or point pip at a mirror (PIP_INDEX_URL or PIP_FIND_LINKS).")
NETWORK_ERROR = re.compile(r"Failed to establish a new connection|Temporary failure in name resolution|"
                           r"Name or service not known|Network is unreachable|No route to host|ProxyError|"
                           r"Max retries exceeded|Connection refused|Read timed out|ConnectTimeout", re.I)
# Imports between the viewer's modules, and the stylesheet index.js adds: what a browser fetches.
REFERENCE = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)["'](\./[\w.-]+)["']""")


def clean_env() -> dict:
    """The environment without anything that would let the source tree (or another venv) be imported."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run(command: list, cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env or clean_env(), capture_output=True,
                          text=True, timeout=timeout)


def output(result: subprocess.CompletedProcess) -> str:
    return f"$ {' '.join(result.args)}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"


def check(result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    """Skip on a network failure (the index is out of reach), fail on any other error."""
    if result.returncode != 0:
        text = result.stdout + result.stderr
        if NETWORK_ERROR.search(text):
            pytest.skip(NO_INDEX.format(what=f"{what} failed: {NETWORK_ERROR.search(text).group(0)}"))
        pytest.fail(f"{what} failed (exit {result.returncode}):\n{output(result)}")
    return result


def new_venv(path: Path, work: Path) -> Path:
    """A fresh venv without system site-packages; its python."""
    made = run([sys.executable, "-m", "venv", path], work, timeout=300)
    if made.returncode != 0:
        pytest.skip("`python -m venv` cannot make a virtual environment with pip here: on Debian or Ubuntu, "
                    f"`apt-get install python3-venv`.\n{output(made)}")
    return path / "bin" / "python"


def source_copy(work: Path) -> Path:
    """The repository's files (tracked, and untracked ones git does not ignore) copied into `work`: the
    build never writes *.egg-info or build/ into the checkout, and a file someone adds while this runs
    cannot half-appear."""
    src = work / "src"
    listing = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True)
    if listing.returncode == 0:
        for name in sorted(set(listing.stdout.decode("utf-8").split("\0")) - {""}):
            if (ROOT / name).is_file():  # not deleted, not a submodule
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, src / name)
    else:  # not a git checkout (an unpacked sdist): everything but build outputs
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                                                 "__pycache__", "*.pyc", ".pytest_cache"))
    return src


def package_files(src: Path) -> set[str]:
    """Every file of the package in the source tree, as wheel paths (gradcallback/...)."""
    return {p.relative_to(src).as_posix() for p in (src / "gradcallback").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")}


def source_version(src: Path) -> str:
    tree = ast.parse((src / "gradcallback" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("gradcallback/__init__.py has no literal `__version__ = ...`")


def pyproject(src: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="Reading pyproject.toml on Python 3.10 needs tomli: "
                                                      "`pip install tomli`.")
    return tomllib.loads((src / "pyproject.toml").read_text(encoding="utf-8"))


def dist_name(requirement: str) -> str:
    """The normalized project name a requirement starts with ("Pillow>=9; python_version..." -> "pillow")."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0)).lower()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def wait_for_plugin(port: int, server: subprocess.Popen, log: Path, timeout: float = 120.0) -> dict:
    """TensorBoard's plugin listing once it names ours (the loader ran and the plugin imported)."""
    deadline = time.time() + timeout
    while True:
        try:
            status, _, body = get(port, "/data/plugins_listing")
            listing = json.loads(body) if status == 200 else {}
            if PLUGIN in listing:
                return listing
        except (OSError, ValueError):
            pass
        if server.poll() is not None or time.time() > deadline:
            state = f"exited with {server.returncode}" if server.poll() is not None else f"no answer in {timeout:.0f} s"
            pytest.fail(f"gradcallback tensorboard never listed the {PLUGIN} plugin ({state}):\n"
                        f"{log.read_text(errors='replace')[-6000:]}")
        time.sleep(0.25)


@pytest.fixture
def work(tmp_path):
    """The test's folder; the venvs (about 250 MB) and the source copy go once it is over."""
    yield tmp_path
    for heavy in ("venv", "builder", "src"):
        shutil.rmtree(tmp_path / heavy, ignore_errors=True)


@pytest.mark.large
def test_wheel_installs_into_a_clean_venv_and_serves_the_tab(work):
    started = last = time.time()
    phases: list[str] = []

    def phase(name: str) -> None:  # printed at the end (pytest -s shows it): where the time goes
        nonlocal last
        phases.append(f"{name} {time.time() - last:.1f} s")
        last = time.time()

    src = source_copy(work)
    config = pyproject(src)
    version = source_version(src)

    # The test venv, first: it also tells whether the package index answers.
    python = new_venv(work / "venv", work)
    pip = ["-m", "pip", "--disable-pip-version-check"]
    probe = run([python, *pip, "download", "--no-deps", "--dest", work / "probe", "setuptools>=77"], work, timeout=300)
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(NO_INDEX.format(what=f"pip download setuptools>=77 said: {said}"))
    phase("venv")

    # python -m build: the sdist, then the wheel from it. The build frontend comes from the dev extra;
    # without it (an environment installed before it was added), from a throwaway venv of its own.
    builder = Path(sys.executable)
    if run([builder, "-c", "import build.__main__"], work, timeout=60).returncode != 0:
        builder = new_venv(work / "builder", work)
        check(run([builder, *pip, "install", "--no-compile", "build"], work, timeout=300), "pip install build")
    built = check(run([builder, "-m", "build", "--outdir", work / "dist", src], work, timeout=900), "python -m build")
    phase("build")
    # setuptools' deprecations (the licence table was one) fail the test; pip's notes about the index do not
    warned = re.compile(r"deprecat|warn.*licen[cs]e|licen[cs]e.*warn", re.I)
    warnings = [line for line in (built.stdout + built.stderr).splitlines() if warned.search(line)]
    assert not warnings, "the build warns:\n" + "\n".join(warnings) + f"\n\n{output(built)}"
    wheels, sdists = sorted((work / "dist").glob("*.whl")), sorted((work / "dist").glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"gradcallback-{version}-py3-none-any.whl"], wheels
    assert [s.name for s in sdists] == [f"gradcallback-{version}.tar.gz"], sdists

    # The wheel holds every file of the package: each subpackage, the viewer's files, the demo data.
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        info = f"gradcallback-{version}.dist-info"
        metadata = wheel.read(f"{info}/METADATA").decode("utf-8")
        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(f"{info}/entry_points.txt").decode("utf-8"))
        missing = sorted(package_files(src) - names)
        assert not missing, f"files of the package not in the wheel (add them to package-data?): {missing}"
        static = {n for n in names if re.fullmatch(r"gradcallback/dashboard/static/[^/]+\.(js|css)", n)}
        data = {n for n in names if re.fullmatch(r"gradcallback/data/[^/]+\.tsv", n)}
        assert "gradcallback/dashboard/static/index.js" in static, static
        assert data, "no data/*.tsv in the wheel"
        assert all(wheel.getinfo(n).file_size > 0 for n in static | data)
    headers = metadata.split("\n\n", 1)[0].splitlines()
    assert f"Version: {version}" in headers
    assert "License-Expression: Apache-2.0" in headers
    assert not any(h.startswith("License:") for h in headers)  # the deprecated free-text field
    required = {dist_name(h.split(": ", 1)[1]) for h in headers
                if h.startswith("Requires-Dist:") and "extra ==" not in h}
    declared = {dist_name(d) for d in config["project"]["dependencies"]}
    assert required == declared, (required, declared)
    assert dict(entry_points["console_scripts"]) == config["project"]["scripts"]
    assert dict(entry_points["tensorboard_plugins"]) == config["project"]["entry-points"]["tensorboard_plugins"]
    with tarfile.open(sdists[0]) as sdist:
        top = f"gradcallback-{version}/"
        in_sdist = {n[len(top):] for n in sdist.getnames() if n.startswith(top)}
    assert {"pyproject.toml", "README.md", "PKG-INFO"} <= in_sdist, sorted(in_sdist)
    assert package_files(src) <= in_sdist

    # Install it (dependencies from the index: no TensorFlow among them), then look at it from outside.
    check(run([python, *pip, "install", "--no-compile", wheels[0]], work, timeout=900), "pip install of the wheel")
    phase("install")
    outside = work / "elsewhere"
    outside.mkdir()
    shown = check(run([python, "-c", "import json, sys, sysconfig, importlib.metadata as m, gradcallback as g; "
                       "print(json.dumps({'file': g.__file__, 'version': g.__version__, "
                       "'dist': m.version('gradcallback'), 'site': sysconfig.get_paths()['purelib'], "
                       "'frameworks': sorted({'keras', 'tensorflow', 'jax', 'torch', 'numpy'} & set(sys.modules)), "
                       "'tensorflow': bool(__import__('importlib.util').util.find_spec('tensorflow'))}))"],
                      outside, timeout=120), "importing the installed package")
    installed = json.loads(shown.stdout.strip().splitlines()[-1])
    assert Path(installed["file"]).resolve().is_relative_to(Path(installed["site"]).resolve()), installed
    assert not Path(installed["file"]).resolve().is_relative_to(ROOT), installed
    assert installed["version"] == installed["dist"] == version
    assert installed["frameworks"] == [], "`import gradcallback` should load no framework (nor numpy)"
    assert not installed["tensorflow"], "the clean venv should not have TensorFlow"

    # gradcallback tensorboard from the venv; the tab's entry module, and all it loads, over HTTP.
    logdir = work / "runs"
    logdir.mkdir()
    port = free_port()
    server_log = work / "tensorboard.log"
    with server_log.open("wb") as sink:
        server = subprocess.Popen([str(python.parent / "gradcallback"), "tensorboard", "--logdir", str(logdir),
                                   "--host", "127.0.0.1", "--port", str(port)], cwd=outside, env=clean_env(),
                                  stdout=sink, stderr=subprocess.STDOUT)
    try:
        entry = wait_for_plugin(port, server, server_log)[PLUGIN]
        phase("server start")
        assert entry["tab_name"] == "Attributions"
        assert entry["loading_mechanism"]["module_path"] == f"/data/plugin/{PLUGIN}/index.js"  # es_module_path
        served: dict[str, bytes] = {}
        queue = ["index.js"]
        while queue:
            name = queue.pop()
            if name in served:
                continue
            status, content_type, body = get(port, f"/data/plugin/{PLUGIN}/{name}")
            assert status == 200, (name, status, body[:300])
            assert content_type.startswith("text/css" if name.endswith(".css") else "text/javascript"), \
                (name, content_type)
            assert body, name
            assert body == (src / "gradcallback/dashboard/static" / name).read_bytes(), name
            served[name] = body
            queue += [ref[2:] for ref in REFERENCE.findall(body.decode("utf-8"))] if name.endswith(".js") else []
        status, _, runs = get(port, f"/data/plugin/{PLUGIN}/runs")  # a data route: the plugin module imported
        assert (status, json.loads(runs)) == (200, {"runs": []})
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
    shipped = {p.name for p in (src / "gradcallback/dashboard/static").iterdir() if p.suffix in (".js", ".css")}
    assert set(served) == shipped, f"loaded from index.js: {sorted(served)}; shipped: {sorted(shipped)}"
    assert b"export async function render" in served["index.js"]  # what plugin_entry.html calls
    assert b"export async function mount(" in served["viewer.js"]  # what index.js imports
    assert b"export function serverSource(" in served["decode.js"]
    phase("assets")
    print(f"wheel built, installed and served in {time.time() - started:.0f} s: " + ", ".join(phases))
