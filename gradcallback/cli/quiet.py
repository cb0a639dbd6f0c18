"""A quiet console for the command line: our lines and Keras' progress bar, not the frameworks'.

Importing TensorFlow prints absl banners, oneDNN and CUDA notices, and on a machine without a
GPU a line that reads like an error (`E0000 ... failed call to cuInit`); transformers warns that
its TF classes are deprecated. `quiet_console()` is entered by `gradcallback.cli.main.main` before
anything imports TensorFlow or JAX:

- the frameworks' log levels, as environment variables they read when they load
  (`TF_CPP_MIN_LOG_LEVEL`, `GRPC_VERBOSITY`, `TRANSFORMERS_VERBOSITY`) and as Python logger levels;
- frameworks' deprecation warnings ignored, other warnings on one line (`warning: ...`);
- a filter on file descriptor 2 for the C++ lines printed before absl's logging is initialized,
  which no environment variable silences (measured with TensorFlow 2.21).

Everything is restored on exit; `--verbose` skips it all. The library itself changes no global
logging when imported: only the command-line entry points call this, and `quiet_frameworks()`, which a
notebook or a script calls itself, once, before it imports a framework (nothing is restored there).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import sys
import threading
import warnings
from typing import Iterator

ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "TRANSFORMERS_VERBOSITY": "error",
               "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
LOGGERS = ("tensorflow", "absl", "transformers", "jax", "h5py", "tensorboard")
# C++ log lines (glog/absl format) at INFO, WARNING and ERROR, and absl's multi-line banners.
# FATAL lines (F...) are kept: they explain a crash.
NOISE = re.compile(rb"(?:[IWE]\d{4} [\d:.]+\s+\d+ [^\]\n]*\] "
                   rb"|WARNING: All log messages before absl::InitializeLog\(\)"
                   rb"|To enable the following instructions:)")
_BANNERS = (b"WARNING: All log messages before absl::InitializeLog()", b"To enable the following instructions:")
# tqdm.auto (which transformers imports) warns in Jupyter without ipywidgets, then draws its text bar anyway.
NOTEBOOK_WARNINGS = (r"IProgress not found",)
_PROCESS_FILTER: list = []  # quiet_frameworks' filter, kept for the life of the process


def quiet_frameworks() -> None:
    """For a notebook or a script: quiet the frameworks for the rest of the process.

    Call it before TensorFlow, JAX or transformers is imported (their log levels are read when they load):
    the first cell of a notebook. It sets the log levels the user has not set, filters the C++ start-up
    lines no setting silences (absl's banner, oneDNN and CUDA notices, `failed call to cuInit`) off file
    descriptor 2, and ignores tqdm's `IProgress not found` warning. Unlike `quiet_console` nothing is
    restored, and warnings keep their usual form; a second call does nothing more.

    Example:
        >>> from gradcallback.cli.quiet import quiet_frameworks
        >>> quiet_frameworks()
        >>> import tensorflow as tf  # no CUDA, oneDNN or absl lines
    """
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in NOTEBOOK_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    if not _PROCESS_FILTER:
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no real fd 2: nothing to filter
            sys.stderr.flush()
            _PROCESS_FILTER.append(StderrFilter())
            atexit.register(_PROCESS_FILTER[0].close)  # a traceback at exit still reaches the console


@contextlib.contextmanager
def quiet_console(verbose: bool = False) -> Iterator[None]:
    """Hide the frameworks' start-up noise for the duration of a command; `verbose` hides nothing."""
    if verbose:
        yield
        return
    with _environment(ENVIRONMENT), _logger_levels(LOGGERS), _one_line_warnings(), _filtered_stderr():
        yield


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set what the user has not set; unset it again afterwards."""
    added = [name for name in values if name not in os.environ]
    os.environ.update({name: values[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _logger_levels(names: tuple[str, ...]) -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = _show_warning
        yield


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=file or sys.stderr)


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    try:
        sys.stderr.flush()
        line_filter = StderrFilter()
    except (OSError, ValueError, AttributeError):  # no real fd 2 (an embedded interpreter): nothing to filter
        yield
        return
    try:
        yield
    finally:
        line_filter.close()


class StderrFilter:
    r"""Routes file descriptor 2 through a pipe; a thread forwards every line that is not noise.

    Partial lines (progress bars redrawn with \r) are forwarded at once unless they may still
    become a noise line, so bars keep moving.
    """

    def __init__(self):
        self.target = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.source = read
        self.thread = threading.Thread(target=self._pump, name="gradcallback-stderr-filter", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Puts the real stderr back on descriptor 2 and lets the thread forward what is left in the pipe."""
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(self.target, 2)  # fd 2 back; the pipe's write end closes, so the thread sees its end
        self.thread.join(timeout=5)
        if not self.thread.is_alive():  # a child process may still hold the pipe open
            os.close(self.target)

    def _pump(self) -> None:
        pending, passing = b"", False
        with contextlib.suppress(OSError):
            while chunk := os.read(self.source, 65536):
                out, pending, passing = split_noise(pending + chunk, passing)
                if out:
                    os.write(self.target, out)
            if pending and (passing or not NOISE.match(pending)):
                os.write(self.target, pending)
        os.close(self.source)


def split_noise(data: bytes, passing: bool) -> tuple[bytes, bytes, bool]:
    """(bytes to forward, bytes held back, whether the held line is already being forwarded).

    `passing` is True while the current line's start was already forwarded.
    """
    out = []
    while (end := data.find(b"\n")) >= 0:
        line, data = data[: end + 1], data[end + 1:]
        if passing or not NOISE.match(line):
            out.append(line)
        passing = False
    if data and (passing or not _may_become_noise(data)):
        out.append(data)
        data, passing = b"", True
    return b"".join(out), data, passing


def _may_become_noise(start: bytes) -> bool:
    if re.fullmatch(rb"[IWE]\d{0,4}", start) or re.match(rb"[IWE]\d{4} ", start):
        return True
    return any(banner.startswith(start) or start.startswith(banner) for banner in _BANNERS)
