"""`AttributionCallback`: probe-set attributions every epoch (or every n steps), in TensorBoard.

One duck-typed class serves every training loop: tf-keras `fit` rejects a `keras.callbacks.Callback`
subclass, and Keras 3's read-only `model` breaks tf-keras's base `__init__`; all loops only call hooks.
The callback is a scheduler: which methods run at which step, what is drawn and written, and the
monitors (objects in a list, see `gradcallback.monitors`) that read the attributions.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

from . import checks
from .alerts import Alert, collect
from .analysis.groups import SpuriousAttributionError
from .engine import Explainer
from .engine.targets import parse_targets
from .guard import Guard
from .io.runs import claim_run_dir, release_run_dir, run_info, write_run_info
from .io.writers import EventWriter, JsonlWriter
from .monitors.base import RunContext, token_groups
from .monitors.schedule import StepBudget, StepPasses, monitor_costs
from .probes import ProbeSet
from .summaries import Display, StepLogger
from .training import StepClock, drop_scratch, is_chief, writes_here
from .validate import choice, positive_int
from .views.console import Console


class AttributionCallback:
    """Logs token attributions of a fixed probe set to TensorBoard while a model trains.

    At train begin it logs the probe set and a step-0 attribution of the untrained model; then
    every `every_n_epochs` epochs (x-axis: epochs completed) or every `every_n_steps` optimizer
    steps (x-axis: global step). Output goes to `<log_dir>/attributions/` (beside Keras' own
    TensorBoard callback's `train/` and `validation/`; a new run into a log_dir that already
    holds one goes to `attributions_2/`, ...): heatmap and evolution images, top-token tables,
    scalars, histograms, the monitors' tags, `records.jsonl` and `run.json`.
    View with `gradcallback tensorboard --logdir <log_dir>`.

    Example:
    ```python
    from gradcallback import AttributionCallback, ProbeSet, SpuriousGroups

    probes = ProbeSet.from_texts(["The sky is green", "Atiku won the vote"], tokenizer, labels=[0, 1])
    callback = AttributionCallback(probes, log_dir="runs/exp1", methods=("gradient_norm",),
                                   monitors=[SpuriousGroups({"names": ["atiku"]}, on_alert="stop")])
    model.fit(train_ds, epochs=3, callbacks=[callback])
    ```

    Args:
        probes: the `ProbeSet` explained at every logged step.
        log_dir: the run's log folder.
        methods: method names from `gradcallback.METHODS`, drawn and written at every logged step.
        method_options: per-method options, e.g. `{"integrated_gradients": {"steps": 64, "every": 3}}`;
            `every: n` explains with that method only at every n-th logged step (0, n, 2n, ...).
            Checked against each method's signature here, in the constructor.
        monitor_options: per-method options of the pass the monitors read, e.g.
            `{"integrated_gradients": {"steps": 8}}`; None: the monitors read `method_options`' pass,
            shared with the images. Each (method, options) pass runs once per step, however many read it.
        monitors: objects following the `gradcallback.monitors.Monitor` protocol (`SpuriousGroups`,
            `VocabularyCheck`, `Faithfulness`, `ShortcutDiscovery`, `Drift`, or your own). Each reads
            one method, computed at every logged step for it.
        every_n_epochs: log after every n-th epoch (ignored when `every_n_steps` is set).
        every_n_steps: log every n optimizer steps instead, with the global step as x-axis.
        target: "predicted" explains the prediction; "label" the probe's label.
        display: a `Display` (top-k, word aggregation, heatmap style, colour scale, sizes, how many
            logged steps an evolution image shows).
        name: subfolder of `attributions/` for this callback, so several can share a log_dir.
        batch_size: probes per batched engine call.
        embedding_layer: the token Embedding layer (or its name) of a Keras model.
        jit_compile: compile the attribution pass with XLA on TensorFlow (JAX always compiles): "auto"
            (the default) when TensorFlow sees a GPU or TPU; on a CPU, XLA's compilation costs more than
            it saves.
        output: what a Keras classifier outputs: "auto" (a final softmax/sigmoid is detected and the
            logit before it explained), "logits" or "probabilities".
        budget: what a logged step may cost: seconds (`budget=5`), or a share of the training time between
            logged steps (`budget="5%"`). A step over it runs the expensive monitors (perturbation checks,
            a pass of their own) at every n-th logged step only, and says so: a note (an alert with action
            "note" under `budget/alerts`, records.jsonl, a warning) when n changes, and the progress line
            while it holds. None (the default): every monitor at every logged step.
        verbose: print one line per logged step (accuracy, top tokens, monitors, alerts, seconds taken).
        strict: re-raise errors from attribution, writing and monitors during training. When False
            (the default), an error is reported once (warning with traceback, and an `Alert` with
            action "switched_off" under the `errors` tag) and only the failing part is switched off:
            training goes on. Set-up mistakes raise in both modes, in the constructor or before the
            first epoch. None reads the environment variable GRADCALLBACK_STRICT ("1" = strict; the
            test suite sets it).
    """

    _supports_tf_logs = False  # tf-keras: we want numpy logs
    async_safe = False  # Keras 3: run hooks in order on the training thread

    def __init__(self, probes: ProbeSet, log_dir: str | os.PathLike, *, methods: Sequence[str] = ("gradient_norm",),
                 method_options: dict[str, dict] | None = None, monitor_options: dict[str, dict] | None = None,
                 monitors: Sequence[Any] = (),
                 every_n_epochs: int = 1, every_n_steps: int | None = None, target: str = "predicted",
                 display: Display | None = None, name: str | None = None, batch_size: int = 32,
                 embedding_layer: Any = None, jit_compile: bool | str = "auto", output: str = "auto",
                 budget: float | str | None = None, verbose: bool = False, strict: bool | None = None):
        choice("target", target, ("predicted", "label"))
        choice("output", output, ("auto", "logits", "probabilities"))
        choice("jit_compile", jit_compile, (True, False, "auto"))
        checks.probe_set(probes, target)
        self.methods = checks.method_names(methods)
        self.monitors = checks.monitors(monitors, probes)
        used = list(dict.fromkeys([*self.methods, *[m.method for m in self.monitors if m.method]]))
        self.method_options, self.method_every = checks.split_options(method_options, used)
        self.passes = StepPasses(self.method_options, monitor_options, [m.method for m in self.monitors if m.method])
        self.clock = StepClock(positive_int("every_n_epochs", every_n_epochs),
                               None if every_n_steps is None else positive_int("every_n_steps", every_n_steps))
        self.display = checks.display(display)
        self.probes, self.log_dir, self.name, self.target = probes, Path(log_dir), name, target
        self.engine_options = dict(embedding_layer=embedding_layer, batch_size=positive_int(
            "batch_size", batch_size), jit_compile=jit_compile, output=output)
        self.budget, self.verbose = StepBudget(budget), bool(verbose)
        self.console = Console(verbose)  # console: never glued to Keras' bar
        self.strict = os.environ.get("GRADCALLBACK_STRICT") == "1" if strict is None else bool(strict)
        self.model: Any = None
        self.params: dict = {}
        self.stop_reason: str | None = None
        self._logger: StepLogger | None = None
        self._run_dir: Path | None = None
        self._last_history: dict = {}
        self._started = False
        self.is_chief = True
        self._scratch: Path | None = None

    @property
    def run_dir(self) -> Path:
        """Where this callback writes: `<log_dir>/attributions[/<name>]`, or a new sibling for a new run."""
        if self._run_dir is not None:
            return self._run_dir
        return self.log_dir / "attributions" / self.name if self.name else self.log_dir / "attributions"

    # Keras plumbing, for tf-keras, Keras 3 (every backend) and custom loops.
    def set_model(self, model: Any) -> None:
        """Keras hook: keep the model being trained; the probes are explained on it."""
        self.model = model

    def set_params(self, params: dict) -> None:
        """Keras hook: keep fit's parameters."""
        self.params = params

    def _implements_train_batch_hooks(self) -> bool:
        return self.clock.every_n_steps is not None

    def _implements_test_batch_hooks(self) -> bool:
        return False

    _implements_predict_batch_hooks = _implements_test_batch_hooks

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Keras hook: open the run (`open`)."""
        self.open(self.model)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Keras hook: feed the step clock; at epoch 0 of a new run, log step 0 (the untrained model) first."""
        if not self.is_chief:
            return
        self.clock.epoch_begins(self.model, epoch)
        if not self._started:
            self._started = True
            if epoch == 0:  # a resumed run's start equals the previous run's last logged step
                self._guard.setup = True  # before training: a failure here is a set-up failure
                try:
                    self.log_now(0, epoch=0)
                finally:
                    self._guard.setup = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Keras hook: log the epoch when `every_n_epochs` says so, then stop training if a monitor asked to."""
        if self.clock.every_n_steps is None and (epoch + 1) % self.clock.every_n_epochs == 0:
            with self.console.during_fit(self.params, bar_open=True):  # before Keras ends its bar's line
                self.log_now(epoch + 1, epoch=epoch + 1)
        reasons = [m.stop_reason for m in self.monitors if getattr(m, "stop_reason", None)]
        if reasons and self.model is not None:  # like EarlyStopping: the epoch is finished first
            self.stop_reason = reasons[0]
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras hook, with `every_n_steps`: log once the global step reaches the next scheduled one."""
        if self.clock.every_n_steps is None or not self.is_chief or self._logger is None:
            return
        step = self.clock.global_step(self.model, batch)
        if step >= self.clock.next_step:
            with self.console.during_fit(self.params, bar_open=True):
                self.log_now(step)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Keras hook: close the run (`close`)."""
        self.close()

    def __getattr__(self, name: str):
        if name.startswith("on_"):  # every other hook (test, predict, batch begin, ...) is a no-op
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    # The work itself, also usable from custom training loops.
    def open(self, model: Any = None) -> None:
        """Check everything against the model and open the writers (done by `on_train_begin`)."""
        self.model = model if model is not None else self.model
        if self.model is None:
            raise ValueError("Expected a model: call set_model(model) or open(model) first. Received: model=None")
        self.close()  # a previous fit that raised never reached on_train_end
        self.is_chief = is_chief(self.model)
        if not self.is_chief:  # another worker of a multi-worker job: the chief does the work
            return
        self._explainer = Explainer(self.model, self.probes.tokenizer, task=self.probes.task, **self.engine_options)
        checks.task_matches(self.probes, self._explainer.adapter.detect_task())
        self._encodings = self.probes.encodings_for(self._explainer.max_length, self._explainer)
        self._explainer.check_ids(self._encodings)  # a probe set the model cannot take fails now
        self._targets = self.probes.labels if self.target == "label" else None
        parse_targets(self.probes.task, self._targets, self._encodings, self._explainer.tokenizer)
        self._open_writers()
        self.clock.start(self.model)
        context = RunContext(self._explainer, self.probes, self._logger.events, self._encodings, self._logger.records,
                             strict=self.strict)
        checks.monitors_ready(self.monitors, context, self.close)
        self._context, self._started, self.stop_reason = context, False, None
        self.budget.reset()

    def _open_writers(self) -> None:
        base = self.log_dir / "attributions" / self.name if self.name else self.log_dir / "attributions"
        base, self._scratch = writes_here(base)  # JAX processes other than 0 explain too, and write nothing kept
        received = f"log_dir={str(self.log_dir)!r}, name={self.name!r}"
        self._run_dir = claim_run_dir(base, self._run_dir, id(self), received)
        self._logger = StepLogger(EventWriter(self._run_dir), JsonlWriter(self._run_dir / "records.jsonl"),
                                  self.probes, display=self.display, target=self.target,
                                  method_options=self.method_options,
                                  explained=self._explainer.adapter.describe_output())
        self._guard = Guard(self.strict)
        write_run_info(self._run_dir, run_info(self._explainer.backend, self.probes, self.methods, self.clock.axis,
                                               self.monitors))

    def log_now(self, step: int, *, epoch: int | None = None, model: Any = None) -> None:
        """Explain the probes and write everything for `step` (custom training loops call this)."""
        if self._logger is None:
            self.open(model)
            self._started = True
        if not self.is_chief:
            return
        started, step, logger = time.perf_counter(), int(step), self._logger
        if not logger.history.first:
            self.console.first_step(step, len(self.probes.inputs), self.methods)
            self._guard.run("probe table", step, logger.log_probes, step)
            for monitor in self.monitors:
                self._guard.run(f"{monitor.name} monitor", step, monitor.start, self._context, step)
        watching = self.budget.began(self.monitors)
        results, computed = self._attribute(step, epoch, watching)
        alerts = self._run_monitors(step, results, computed, watching)
        costs = monitor_costs(self.passes, self._due, self.monitors, self._pass_seconds, self._monitor_seconds)
        alerts = self._publish(step, results, alerts + self.budget.done(step, time.perf_counter() - started, costs))
        thinning = self.budget.describe()
        self.console.step_line(logger, step, epoch, self.monitors, time.perf_counter() - started, alerts,
                               notes=[thinning] if thinning else [])
        self.clock.logged(step)

    def _publish(self, step: int, results: dict, alerts: list[Alert]) -> list[Alert]:
        """The step's alerts (the monitors' and the parts switched off) to the Attributions dashboard's data,
        the text events and the records; returns them for the progress line."""
        alerts = alerts + self._guard.take()
        if results:
            self._guard.run("dashboard data", step, self._logger.log_dashboard, step, results,
                            token_groups(self.monitors), alerts)
        alerts += self._guard.take()  # the dashboard data failed: that alert is the step's too
        self._guard.run("alerts", step, self._logger.log_alerts, alerts)
        self._guard.run("flush", step, self._logger.flush)
        return alerts

    def _attribute(self, step: int, epoch: int | None, watching: list) -> tuple[dict, dict]:
        """Every pass due at `step` (the images' of the methods due, the monitors'), each (method, options)
        once; written for the methods due. Returns (method -> attributions, pass key -> attributions)."""
        due = self._due = [m for m in self.methods if self.clock.due(step, self.method_every[m])]
        with self._explainer.remembering():  # the gradient_norm pass's f(x) serves integrated gradients' delta
            computed, self._pass_seconds = self.passes.run(self.passes.plan(due, watching), lambda part, method, o: (
                self._guard.run(part, step, self._explainer.explain_encoded, self.probes.inputs, self._encodings,
                                task=self.probes.task, method=method, target=self._targets,
                                progress=self.console.progress(), **o)))
        for method in due:
            if (key := self.passes.for_images(method)[0]) in computed:
                self._guard.run(f"writing ({method})", step, self._logger.log_method, step, epoch, method,
                                computed[key])
        results = self.passes.by_method(computed)
        if results:
            self._guard.run("prediction scalars", step, self._logger.log_predictions, step,
                            next(iter(results.values())))
        return results, computed

    def _run_monitors(self, step: int, results: dict, computed: dict, watching: list) -> list[Alert]:
        """The alerts of every monitor due whose pass was computed, each timed; `on_alert="raise"` still
        writes the step (its alert included) before the exception ends fit."""
        alerts: list[Alert] = []
        self._monitor_seconds = {}
        try:
            for monitor in watching:
                key = self.passes.for_monitor(monitor)[0] if monitor.method else None
                if key is None or key in computed:
                    attributions, begun = computed.get(key) if key else None, time.perf_counter()
                    alerts += self._guard.run(f"{monitor.name} monitor", step,
                                              lambda m, a: collect(m.log(step, a), m), monitor, attributions) or []
                    self._monitor_seconds[monitor.name] = time.perf_counter() - begun
        except SpuriousAttributionError as error:
            self._publish(step, results, alerts + ([error.alert] if error.alert else []))
            self.close()  # the exception ends fit before on_train_end: leave nothing open
            raise
        return alerts

    def close(self) -> None:
        """Flush and close the writers (done by `on_train_end`); the callback can be reused, and the
        model is no longer referenced by the explainer."""
        if self._logger is not None:
            self._logger.events.close()
            self._logger.records.close()
            self._last_history = self._logger.history.as_dict()
            release_run_dir(self._run_dir)
            if self._scratch is not None:
                drop_scratch(self._scratch)
                self._run_dir = self._scratch = None
            self._logger = None
            self._explainer = self._context = None

    @property
    def history(self) -> dict:
        """The current or last run's attributions, method -> [(step, [Attribution per probe])]: the first
        logged step and the latest `display.evolution_steps` ones (records.jsonl holds every step)."""
        return self._logger.history.as_dict() if self._logger is not None else self._last_history
