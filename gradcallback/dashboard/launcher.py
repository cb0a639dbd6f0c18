"""`gradcallback tensorboard --logdir DIR`: TensorBoard with the Attributions dashboard registered.

Two pitfalls it avoids: a plugin name registered twice crashes TensorBoard (the entry point is
found once per installed copy, a stale `*.egg-info` included), so plugins are kept once per name
and ours is added only when the entry point did not already bring it; and TensorBoard keeps only
10 samples per tag of images and third-party plugins by default, so every logged step is kept.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any, Iterator, Sequence

from . import PLUGIN_NAME, GradCallbackLoader

# images=1000: up to 1000 logged steps per image tag (images=0 makes TensorBoard 2.21 serve no image);
# gradcallback=0: keep every step of the dashboard data (0 = no limit; the plugin asks for all of it).
SAMPLING = f"images=1000,{PLUGIN_NAME}=0"


def plugin_name(spec: Any) -> str | None:
    """The name a plugin spec (TBPlugin class, TBLoader class or instance) registers, when it says so
    without being built; None for loaders that only know it once loaded (none of TensorBoard's own)."""
    name = getattr(spec, "plugin_name", None)
    return name if isinstance(name, str) else None


def plugins_with_ours(plugins: Sequence[Any]) -> list[Any]:
    """`plugins` with each named plugin once, and ours appended unless already present."""
    seen, out = set(), []
    for spec in plugins:
        name = plugin_name(spec)
        if name is not None and name in seen:
            continue
        seen.add(name)
        out.append(spec)
    return out if PLUGIN_NAME in seen else out + [GradCallbackLoader]


def tensorboard_argv(logdir: str, port: int | None, host: str | None, extra: Sequence[str] = ()) -> list[str]:
    argv = ["gradcallback-tensorboard", "--logdir", logdir, "--samples_per_plugin", SAMPLING]
    if port is not None:
        argv += ["--port", str(port)]
    if host is not None:
        argv += ["--host", host]
    return argv + list(extra)


def run(logdir: str, port: int | None = None, host: str | None = None, extra: Sequence[str] = ()) -> int:
    """Serve until interrupted (Ctrl-C), like the `tensorboard` command; `extra` are more TensorBoard flags."""
    from tensorboard import default, program

    board = program.TensorBoard(plugins=plugins_with_ours(default.get_plugins()))
    board.configure(argv=tensorboard_argv(logdir, port, host, extra))
    return board.main() or 0


@contextlib.contextmanager
def serving(logdir: str, port: int, ready: str = f"/data/plugin/{PLUGIN_NAME}/runs",
            timeout: float = 120.0) -> Iterator[subprocess.Popen]:
    """`gradcallback tensorboard` in a subprocess on 127.0.0.1:`port` (tools and benchmarks drive it with a
    browser): yields once `ready` answers, stops the server on exit."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    server = subprocess.Popen([sys.executable, "-m", "gradcallback.cli", "tensorboard", "--logdir", str(logdir),
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

