"""`gradcallback tensorboard --logdir DIR`: TensorBoard with the Attributions dashboard registered.

Two pitfalls it avoids: a plugin name registered twice crashes TensorBoard (the entry point is
found once per installed copy, a stale `*.egg-info` included), so plugins are kept once per name
and ours is added only when the entry point did not already bring it; and TensorBoard keeps only
10 samples per tag of images and third-party plugins by default, so every logged step is kept.
"""

from __future__ import annotations

from typing import Any, Sequence

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
    """TensorBoard's command line for `logdir`, with every logged step kept (`SAMPLING`) and `extra` flags last."""
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
