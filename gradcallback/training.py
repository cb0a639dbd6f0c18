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

A multi-process JAX job (`keras.distribution.initialize`: one process per host of a GPU or TPU pod) is
different: the weights are global arrays spread over every process's devices, and a compiled program over
them runs only when every process runs it. So every process explains (the same probes, the same program)
and process 0 (`jax.process_index()`) alone writes; the others write into a temporary folder that is
removed when the run closes.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any


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


def first_jax_process() -> bool:
    """False only on Keras' JAX backend in a multi-process job, on a process other than `jax.process_index()` 0."""
    import keras

    jax = sys.modules.get("jax")  # imported by Keras' JAX backend; never imported here for the others
    return keras.backend.backend() != "jax" or jax is None or jax.process_index() == 0


def writes_here(base: Path) -> tuple[Path, Path | None]:
    """(the folder this process writes `base` into, the scratch folder to remove at close or None):
    `base` on process 0, a temporary folder on the other processes of a multi-process JAX job."""
    if first_jax_process():
        return base, None
    scratch = Path(tempfile.mkdtemp(prefix="gradcallback-process-"))
    return scratch / base.name, scratch


def drop_scratch(scratch: Path) -> None:
    """Removes a scratch folder of `writes_here` with everything written into it."""
    shutil.rmtree(scratch, ignore_errors=True)
