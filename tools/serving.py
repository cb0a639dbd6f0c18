"""Drive `gradcallback tensorboard` from the tools, benchmarks and tests: a server in a subprocess, and the
Attributions tab's frame in a Playwright page. A test harness, so it lives outside the package."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any, Iterator

from gradcallback.io import PLUGIN_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def serving(logdir: str, port: int, ready: str = f"/data/plugin/{PLUGIN_NAME}/runs",
            timeout: float = 120.0) -> Iterator[subprocess.Popen]:
    """`gradcallback tensorboard` in a subprocess on 127.0.0.1:`port` (tools and benchmarks drive it with a
    browser): yields once `ready` answers, stops the server on exit."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    server = subprocess.Popen([sys.executable, "-m", "gradcallback", "tensorboard", "--logdir", str(logdir),
                               "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"TensorBoard did not answer {ready} on port {port}") from None
                time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


# For the tools, benchmarks and tests that drive headless Chromium against `serving()`.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def plugin_frame(page: Any, timeout: float = 120.0) -> Any:
    """The Attributions tab's iframe in a Playwright page showing TensorBoard (RuntimeError if it never opens)."""
    for _ in range(int(timeout * 4)):
        frame = next((f for f in page.frames if f"plugin_entry.html?name={PLUGIN_NAME}" in f.url), None)
        if frame is not None:
            return frame
        page.wait_for_timeout(250)
    raise RuntimeError("TensorBoard never opened the Attributions tab")

