"""A quiet console: the command line hides the frameworks' start-up lines (`--verbose` shows them),
the library changes no global logging when imported, and the set-up leaves nothing behind."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import build_hf

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.cli.quiet import ENVIRONMENT, LOGGERS, quiet_console, split_noise

ROOT = Path(__file__).resolve().parent.parent
TF_STARTUP_LINES = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1795470026.063579    6829 port.cc:153] oneDNN custom operations are on.\n"
    b"E0000 00:00:1795470042.061291    7017 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
    b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
)


def _env() -> dict[str, str]:
    """A new user's environment: none of the frameworks' log settings, this checkout first."""
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, timeout=120)


def test_noise_lines_are_dropped_and_ours_kept():
    ours = b"error: something we say\nF0000 00:00:1.0 1 x.cc:1] a fatal line explains a crash\n"
    out, held, passing = split_noise(TF_STARTUP_LINES + ours, False)
    assert out == ours and held == b"" and not passing


def test_partial_lines_pass_at_once_unless_they_may_become_noise():
    out, held, passing = split_noise(b"\rexplain:  40%|####", False)  # a progress bar redrawn in place
    assert out == b"\rexplain:  40%|####" and passing
    out, held, _ = split_noise(b"| 4/10\n", passing)
    assert out == b"| 4/10\n"
    out, held, _ = split_noise(b"I0000 00:00:17", False)  # may be a log line: wait for its end
    assert out == b"" and held == b"I0000 00:00:17"
    out, held, _ = split_noise(held + b"95.1   12 port.cc:153] oneDNN\nnext", False)
    assert out == b"next" and held == b""


def test_quiet_console_filters_file_descriptor_2_and_verbose_does_not():
    code = ("import os, sys\nfrom gradcallback.cli.quiet import quiet_console\n"
            f"with quiet_console(verbose={{}}):\n    os.write(2, {TF_STARTUP_LINES!r})\n"
            "    print('ours', file=sys.stderr)\n")
    quiet, verbose = _python(code.format(False)), _python(code.format(True))
    assert quiet.returncode == verbose.returncode == 0
    assert quiet.stderr == b"ours\n"
    assert verbose.stderr == TF_STARTUP_LINES + b"ours\n"


@pytest.mark.large
def test_report_prints_no_tensorflow_startup_lines(tmp_path, hf_tokenizer):
    model = build_hf("bert", "classification", seed=6)
    callback = AttributionCallback(ProbeSet.from_texts(["the movie was good"], hf_tokenizer), tmp_path)
    callback.log_now(0, epoch=0, model=model)
    callback.close()
    done = subprocess.run([sys.executable, "-m", "gradcallback", "report", str(tmp_path)], env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "step  epoch" in done.stdout
    assert done.stderr == ""  # no absl banner, no oneDNN/CUDA lines, no cuInit "error"


def test_the_command_line_imports_no_framework_before_its_set_up():
    done = _python("import sys, gradcallback, gradcallback.cli.main\n"
                   "print(sorted(m for m in ('tensorflow', 'jax', 'keras', 'transformers', 'torch') "
                   "if m in sys.modules))")
    assert done.returncode == 0 and done.stdout.strip() == b"[]"


@pytest.mark.large
def test_importing_the_library_changes_no_logging():
    # The frameworks first: what they change on import themselves (JAX sets TF_CPP_MIN_LOG_LEVEL) is theirs.
    code = ("import importlib, logging, os, warnings\n"
            "for name in ('tensorflow', 'jax', 'keras', 'tf_keras', 'transformers', 'keras_hub', 'tensorboard'):\n"
            "    try:\n        importlib.import_module(name)\n    except ImportError:\n        pass\n"
            f"names, keys = {LOGGERS!r}, {tuple(ENVIRONMENT)!r}\n"
            "state = lambda: ([logging.getLogger(n).level for n in names], [os.environ.get(k) for k in keys], "
            "warnings.showwarning)\n"
            "before = state()\nimport gradcallback\nfrom gradcallback import explain, AttributionCallback\n"
            "assert state() == before, (before, state())\n")
    done = _python(code)
    assert done.returncode == 0, done.stderr[-2000:]


def test_quiet_console_leaves_nothing_behind():
    before = ([logging.getLogger(n).level for n in LOGGERS], {k: os.environ.get(k) for k in ENVIRONMENT},
              warnings.showwarning, os.fstat(2).st_ino)
    with quiet_console():
        assert logging.getLogger("tensorflow").level == logging.ERROR
        assert all(os.environ.get(k) is not None for k in ENVIRONMENT)
        with pytest.warns(UserWarning):  # ours still reach the user (pytest records them here)
            warnings.warn("ours", UserWarning, stacklevel=2)
    after = ([logging.getLogger(n).level for n in LOGGERS], {k: os.environ.get(k) for k in ENVIRONMENT},
             warnings.showwarning, os.fstat(2).st_ino)
    assert after == before


def test_quiet_frameworks_filters_for_the_rest_of_the_process_and_lets_a_traceback_out():
    code = ("import os, sys, warnings\nfrom gradcallback.cli.quiet import quiet_frameworks\n"
            f"quiet_frameworks()\nquiet_frameworks()\nos.write(2, {TF_STARTUP_LINES!r})\n"
            "warnings.warn('IProgress not found. Please update jupyter and ipywidgets.')\n"
            "print('ours', os.environ['TF_CPP_MIN_LOG_LEVEL'], file=sys.stderr)\nraise ValueError('the end')\n")
    done = _python(code)
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert lines[0] == "ours 3" and lines[-1] == "ValueError: the end"  # the traceback, printed at exit, kept
    assert not any(noise in done.stderr for noise in (b"cuInit", b"oneDNN", b"absl", b"IProgress"))
