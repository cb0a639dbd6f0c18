"""Where the callback stands in training: its step axis and which process does its work.

The step axis. Epoch mode: step s = s epochs completed (step 0 = before training). Keras' own TensorBoard
callback logs `epoch_loss` at step e for epoch e (0-based), so our step s sits next to its
step s - 1: the attributions after the epoch whose loss it logged. Steps mode: the global step
(optimizer iterations after the batch), the same axis as Keras' `batch_*` scalars.

Which process of a tf.distribute job does the callback's work: the chief only. Keras 3's callbacks
do nothing about multiple workers, and tf-keras sends non-chief workers' writes to a temporary folder.
We decide ourselves: under MultiWorkerMirroredStrategy only the chief explains and writes; every other
worker skips the callback entirely (no files, no extra compute). The attribution pass reads mirrored
weights locally, so no collective is left waiting on the other workers.

What a logged step computes (`StepPasses`): each (method, options) pass runs once and is shared. The
images of a method and the monitors reading it use one engine call when they ask for the same options
(the default: the monitors read `method_options`); `monitor_options` gives the monitors a pass of their
own (cheaper integrated gradients, say), still one per (method, options) however many monitors read it.
"""

from __future__ import annotations

from typing import Any, Sequence

from .checks import split_options


def read_iterations(model: Any) -> int | None:
    """The optimizer's iteration count, or None when it cannot be read without forcing a weight sync
    (Keras' JAX trainer holds the state apart from the variables mid-epoch)."""
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    if iterations is None:
        return None
    if hasattr(iterations, "_value") and iterations._value is None:  # purged by the JAX trainer
        return None
    value = iterations.numpy() if hasattr(iterations, "numpy") else iterations
    try:
        return int(value)
    except TypeError:
        return None


class StepClock:
    """When to log, and at which x-axis value."""

    def __init__(self, every_n_epochs: int, every_n_steps: int | None):
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.axis = "epochs" if every_n_steps is None else "steps"
        self.next_step, self._epoch_first = 0, 0

    def start(self, model: Any) -> None:
        """At training's start: reads the optimizer's iterations and, in steps mode, the first step due to log."""
        self._epoch_first = read_iterations(model) or 0
        self.next_step = self._after(self._epoch_first)

    def epoch_begins(self, model: Any, epoch: int) -> None:
        """At an epoch's start every trainer has synced its weights: remember where the epoch starts."""
        value = read_iterations(model)
        self._epoch_first = value if value is not None else self._epoch_first

    def global_step(self, model: Any, batch: int) -> int:
        """The global step after `batch`: the optimizer's iterations, else the epoch's first step + `batch` + 1."""
        value = read_iterations(model)
        return value if value is not None else self._epoch_first + batch + 1

    def due(self, step: int, every: int) -> bool:
        """Whether a method with `every: n` runs at `step` (logged steps 0, n, 2n, ...)."""
        interval = self.every_n_steps or self.every_n_epochs
        return (step // interval) % every == 0

    def logged(self, step: int) -> None:
        """Records that `step` was logged: the next log in steps mode is due at the next multiple of `every_n_steps`."""
        self.next_step = self._after(step)

    def _after(self, step: int) -> int:  # the next global step to log at, steps mode
        n = self.every_n_steps or 1
        return (step // n + 1) * n


def is_chief(model: Any) -> bool:
    """True unless `model` trains under a multi-worker strategy and this process is not its chief
    (the "chief" task, or worker 0 when the cluster has no chief, as in tf.distribute)."""
    strategy = getattr(model, "distribute_strategy", None)
    resolver = getattr(getattr(strategy, "extended", None), "_cluster_resolver", None) or \
        getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict() or resolver.task_type is None:
        return True
    if "chief" in resolver.cluster_spec().as_dict():
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0

PassKey = tuple  # (method, the options as sorted (name, repr(value)) pairs): hashable, equal for equal options


def pass_key(method: str, options: dict) -> PassKey:
    """The key under which a method's pass with `options` is computed once per step."""
    return method, tuple(sorted((name, repr(value)) for name, value in options.items()))


class StepPasses:
    """Which engine passes a logged step runs, and which pass the images and each monitor read."""

    def __init__(self, method_options: dict[str, dict], monitor_options: dict[str, dict] | None,
                 monitor_methods: Sequence[str]):
        self.method_options = method_options
        given = monitor_options or {}
        unknown = sorted(set(given) - set(monitor_methods))
        if unknown:
            raise ValueError("Expected monitor_options for the methods the monitors read "
                             f"{sorted(set(monitor_methods))}. Received: monitor_options keys {unknown}")
        options, every = split_options(given, list(given))
        if any(n != 1 for n in every.values()):
            raise ValueError("monitor_options take no `every`: a monitor reads its method at every step it logs. "
                             f"Received: monitor_options={monitor_options!r}")
        self.monitor_options = options

    def for_images(self, method: str) -> tuple[PassKey, dict]:
        """The pass the images (and tables, scalars, dashboard) of `method` read."""
        options = self.method_options[method]
        return pass_key(method, options), options

    def for_monitor(self, monitor: Any) -> tuple[PassKey, dict]:
        """The pass `monitor` reads: its method with `monitor_options` when given, else the images' options."""
        options = self.monitor_options.get(monitor.method, self.method_options[monitor.method])
        return pass_key(monitor.method, options), options

    def plan(self, due: Sequence[str], monitors: Sequence[Any]) -> dict[PassKey, tuple[str, dict]]:
        """Every distinct pass of the step, key -> (method, options): the images' of the methods due first."""
        wanted = [self.for_images(m) for m in due] + [self.for_monitor(m) for m in monitors if m.method]
        passes: dict[PassKey, tuple[str, dict]] = {}
        for key, options in wanted:
            passes.setdefault(key, (key[0], options))
        return passes

    def by_method(self, computed: dict[PassKey, list]) -> dict[str, list]:
        """One pass per method, for the step's other readers (dashboard, predictions): the images' when computed."""
        results: dict[str, list] = {}
        for key, attributions in computed.items():
            images = pass_key(key[0], self.method_options[key[0]])
            if key == images or key[0] not in results:
                results[key[0]] = attributions
        return results
