"""`AttributionCallback`: probe-set attributions every epoch (or every n steps), in TensorBoard.

One duck-typed class serves both training loops: tf-keras `fit` rejects a `keras.callbacks.Callback`
subclass, and Keras 3's read-only `model` breaks tf-keras's base `__init__`. Both loops only call hooks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from . import checks
from .dashboard.payload import write_results
from .distribute import is_chief
from .explain import Explainer, is_signed
from .guard import Guard
from .monitors import (DiscoveryMonitor, DriftMonitor, FaithfulnessMonitor, RunContext, SpuriousMonitor,
                       VocabularyMonitor)
from .probes import ProbeSet
from .spurious import check_groups
from .summaries import StepLogger
from .vocabulary import VocabularyCheck
from .writers import EventWriter, JsonlWriter

_ACTIVE_DIRS: dict[str, int] = {}  # run folder -> id of the callback writing it now


class AttributionCallback:
    """Logs token attributions of a fixed probe set to TensorBoard while a model trains.

    At train begin it logs the probe set and a step-0 attribution of the untrained
    model; then every `every_n_epochs` epochs (x-axis: epochs) or every `every_n_steps`
    optimizer steps (x-axis: global step). Output goes to `<log_dir>/attributions/`
    (beside Keras' own TensorBoard callback's `train/` and `validation/`): heatmap and
    evolution images, top-token tables, scalars, histograms and `records.jsonl`.
    View with `tensorboard --logdir <log_dir> --samples_per_plugin images=1000`.

    Example:

    ```python
    from gradcallback import AttributionCallback, ProbeSet

    probes = ProbeSet.from_texts(["The sky is green", "Atiku won the vote"], tokenizer, labels=[0, 1])
    callback = AttributionCallback(probes, log_dir="runs/exp1", methods=("gradient_norm",))
    model.fit(train_ds, epochs=3, callbacks=[callback])
    ```

    Args:
        probes: the `ProbeSet` explained at every logged step.
        log_dir: the run's log folder.
        methods: method names from `gradcallback.METHODS`, each explained every logged step.
        every_n_epochs: log after every n-th epoch (ignored when `every_n_steps` is set).
        every_n_steps: log every n optimizer steps instead, with the global step as x-axis.
        top_k: tokens per probe in the top-token tables.
        aggregate: "token", or "word" to merge word pieces (##, Ġ, ▁) with summed scores.
        style: "text" heatmaps, or "bars" for the seeds' bar charts.
        color_scale: "per_image" (each image's own max), or "fixed" (the first logged step's
            max per probe, so images compare across epochs).
        max_tokens: longest token sequence drawn; longer probes are cut with a note.
        image_width: heatmap width in pixels (at most 1600).
        target: "predicted" explains the predicted class; "label" the probe's label.
        method_options: per-method options, e.g. `{"integrated_gradients": {"steps": 64, "every": 3}}`;
            `every: n` explains with that method only at every n-th logged step (0, n, 2n, ...).
        name: subfolder of `attributions/` for this callback, so several can share a log_dir.
        batch_size: probes per batched engine call.
        embedding_layer: the token Embedding layer (or its name) of a Keras model.
        jit_compile: compile the attribution pass with XLA. Each chunk shape compiles once
            (the probe set is fixed, so once per run), then every logged step runs faster.
        vocabulary: a `VocabularyCheck` (or its arguments as a dict): coverage tables of the
            probes, a training-text sample and `terms` at train begin; every step, the share of
            attribution on fragmented words and the health of added tokens (norm, distance
            moved, attribution share), with a warning when an added token never moves.
        spurious: groups of tokens that should not matter, name -> list of words (their word
            pieces count), compiled regex matched against words, or "special_tokens"; logged as
            `spurious/<group>/share` (overall and per predicted class) with an offenders table.
        spurious_threshold: group -> share of attribution mass above which to act.
        on_spurious: "warn", "stop" (stop training at the end of the epoch, reason in
            `stop_reason`) or "raise" (`SpuriousAttributionError` with the figures).
        patience: consecutive logged steps above a threshold before acting.
        faithfulness: True or "mask" (or "pad"): each step, ERASER comprehensiveness and
            sufficiency at k = 1, 3, 5, 10%, 20% and AOPC per method and for a random ranking,
            tokens replaced by [MASK] (or [PAD]); batched forward passes (classification).
        discovery: True (or a dict: `max_candidates`, `min_drop`, `min_fraction`, `replace`):
            lexicon-free shortcut candidates (tokens whose masking flips or drops the prediction on
            enough of their probes) and the delete-vs-mask length/position check, each step.
        verbose: print one line per logged step (probe accuracy, top tokens, spurious shares, alerts).
        strict: re-raise errors from attribution, writing and monitors. When False, an error
            is reported once (warning with traceback, and an `errors` text entry) and only
            the failing part is switched off: training goes on. None reads the environment
            variable GRADCALLBACK_STRICT ("1" = strict; the test suite sets it).
    """

    _supports_tf_logs = False  # tf-keras: we want numpy logs
    async_safe = False  # Keras 3: run hooks in order on the training thread

    def __init__(self, probes: ProbeSet, log_dir: str | os.PathLike, *, methods: Sequence[str] = ("gradient_norm",),
                 every_n_epochs: int = 1, every_n_steps: int | None = None, top_k: int = 10,
                 aggregate: str = "token", style: str = "text", color_scale: str = "per_image",
                 max_tokens: int = 256, image_width: int = 1200, target: str = "predicted",
                 method_options: dict[str, dict] | None = None, name: str | None = None, batch_size: int = 32,
                 embedding_layer: Any = None, jit_compile: bool = True,
                 vocabulary: VocabularyCheck | dict | None = None, spurious: dict | None = None,
                 spurious_threshold: dict[str, float] | None = None, on_spurious: str = "warn", patience: int = 1,
                 faithfulness: bool | str = False, discovery: bool | dict = False, verbose: bool = False,
                 strict: bool | None = None):
        checks.probe_set(probes, target)
        self.methods = checks.method_names(methods, method_options)
        self.every_n_epochs = checks.positive_int("every_n_epochs", every_n_epochs)
        self.every_n_steps = None if every_n_steps is None else checks.positive_int("every_n_steps", every_n_steps)
        self.top_k = checks.positive_int("top_k", top_k)
        self.max_tokens = checks.positive_int("max_tokens", max_tokens)
        self.image_width = checks.positive_int("image_width", image_width)
        self.batch_size = checks.positive_int("batch_size", batch_size)
        checks.choices(aggregate=(aggregate, ("token", "word")), style=(style, ("text", "bars")),
                       color_scale=(color_scale, ("per_image", "fixed")), target=(target, ("predicted", "label")),
                       on_spurious=(on_spurious, ("warn", "stop", "raise")))
        self.probes, self.log_dir, self.name = probes, Path(log_dir), name
        self.aggregate, self.style, self.color_scale, self.target = aggregate, style, color_scale, target
        self.method_options = {m: dict((method_options or {}).get(m, {})) for m in self.methods}
        self.method_every = {m: checks.positive_int("every", self.method_options[m].pop("every", 1))
                             for m in self.methods}
        self.embedding_layer, self.jit_compile = embedding_layer, bool(jit_compile)
        self.vocabulary = checks.vocabulary_check(vocabulary)
        self.spurious = check_groups(spurious) if spurious is not None else {}
        self.spurious_threshold = checks.spurious_thresholds(spurious_threshold or {}, self.spurious)
        self.on_spurious, self.patience = on_spurious, checks.positive_int("patience", patience)
        self.stop_reason: str | None = None
        self.discovery = checks.discovery_options(discovery)
        self.faithfulness = checks.faithfulness_mode(faithfulness)
        self.verbose = bool(verbose)
        self.strict = os.environ.get("GRADCALLBACK_STRICT") == "1" if strict is None else bool(strict)
        self.model: Any = None
        self.params: dict = {}
        self._logger: StepLogger | None = None
        self._last_history: dict = {}
        self._started = False
        self.is_chief = True

    @property
    def run_dir(self) -> Path:
        """Where this callback writes: `<log_dir>/attributions[/<name>]`."""
        return self.log_dir / "attributions" / self.name if self.name else self.log_dir / "attributions"

    # Keras plumbing, for both tf-keras and Keras 3 training loops.
    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def _implements_train_batch_hooks(self) -> bool:
        return self.every_n_steps is not None

    def _implements_test_batch_hooks(self) -> bool:
        return False

    _implements_predict_batch_hooks = _implements_test_batch_hooks

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.open(self.model)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self._started:
            self._started = True
            if epoch == 0:  # a resumed run's start equals the previous run's last logged step
                self.log_now(0, epoch=0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.every_n_steps is None and (epoch + 1) % self.every_n_epochs == 0:
            self.log_now(epoch + 1, epoch=epoch + 1)
        reasons = [m.stop_reason for m in getattr(self, "_monitors", []) if getattr(m, "stop_reason", None)]
        if reasons and self.model is not None:  # like EarlyStopping: the epoch is finished first
            self.stop_reason = reasons[0]
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.every_n_steps is None or not self.is_chief:
            return
        step = self._global_step(batch)
        if step >= self._next_step:
            self.log_now(step)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def __getattr__(self, name: str):
        if name.startswith("on_"):  # every other hook (test, predict, batch begin, ...) is a no-op
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    # The work itself, also usable from custom training loops.
    def open(self, model: Any = None) -> None:
        """Validate against the model and open writers (done by `on_train_begin`)."""
        self.model = model if model is not None else self.model
        if self.model is None:
            raise ValueError("Expected a model: call set_model(model) or open(model) first. Received: model=None")
        self.close()  # a previous fit that raised never reached on_train_end
        self.is_chief = is_chief(self.model)
        if not self.is_chief:  # another worker of a multi-worker job: the chief does the work
            return
        folder = str(self.run_dir.resolve())
        if _ACTIVE_DIRS.get(folder, id(self)) != id(self):
            raise ValueError(f"Another AttributionCallback is writing to {folder}; give each one a distinct "
                             f"`name=`. Received: log_dir={str(self.log_dir)!r}, name={self.name!r}")
        self._explainer = Explainer(self.model, self.probes.tokenizer, task=self.probes.task,
                                    embedding_layer=self.embedding_layer, batch_size=self.batch_size,
                                    jit_compile=self.jit_compile)
        self._encodings = self.probes.encodings_for(self._explainer.max_length, self._explainer)
        self._explainer.check_ids(self._encodings)  # a probe set the model cannot take fails now
        self._targets = self.probes.labels if self.target == "label" else None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        _ACTIVE_DIRS[folder] = id(self)
        self._folder, self._started = folder, False
        self._next_step = self._step_after(self._global_step(-1))
        self._logger = StepLogger(
            EventWriter(self.run_dir), JsonlWriter(self.run_dir / "records.jsonl"), self.probes,
            top_k=self.top_k, aggregate=self.aggregate, style=self.style, color_scale=self.color_scale,
            max_tokens=self.max_tokens, image_width=self.image_width, target=self.target,
            method_options=self.method_options)
        self._monitors = [DriftMonitor(self.top_k)]
        if self.vocabulary:
            self._monitors.append(VocabularyMonitor(self.vocabulary))
        if self.faithfulness:
            self._monitors.append(FaithfulnessMonitor(self.faithfulness, self.top_k))
        if self.discovery is not None:
            self._monitors.append(DiscoveryMonitor(**self.discovery))
        if self.spurious:
            self._monitors.append(SpuriousMonitor(self.spurious, self.spurious_threshold, self.on_spurious,
                                                  self.patience))
        self._guard = Guard(self.strict, self._logger.events)

    def log_now(self, step: int, *, epoch: int | None = None, model: Any = None) -> None:
        """Explain the probes with every method and write everything for `step`."""
        if self._logger is None:
            self.open(model)
            self._started = True
        if not self.is_chief:
            return
        step, logger = int(step), self._logger
        if not logger.history:  # first logged step of this run
            self._guard.run("probe table", step, logger.log_probes, step)
            context = RunContext(self._explainer, self.probes, logger.events, self._encodings, logger.records)
            for monitor in self._monitors:
                self._guard.run(type(monitor).__name__, step, monitor.start, context, step)
        results = {}
        interval = self.every_n_steps or self.every_n_epochs
        for method in [m for m in self.methods if (step // interval) % self.method_every[m] == 0]:
            attributions = self._guard.run(f"attribution ({method})", step, self._explainer.explain_encoded,
                                         self.probes.inputs, self._encodings, task=self.probes.task, method=method,
                                         target=self._targets, **self.method_options[method])
            if attributions is not None:
                results[method] = attributions
                self._guard.run(f"writing ({method})", step, logger.log_method, step, epoch, method, attributions)
        if results:
            self._guard.run("prediction scalars", step, logger.log_predictions, step, next(iter(results.values())))
            for monitor in self._monitors:
                self._guard.run(type(monitor).__name__, step, monitor.log, step, results)
            # The Attributions dashboard's data, last: it carries the alerts the monitors just wrote.
            self._guard.run("dashboard data", step, write_results, logger.events, step, results,
                            signed={m: is_signed(m, self.method_options[m]) for m in results},
                            label_names=self.probes.label_names, labels=self.probes.labels, groups=self.spurious)
        self._guard.run("flush", step, logger.flush)
        if self.verbose:
            print("\n" + logger.progress_line(step, epoch), flush=True)  # after a progress bar's \r
        self._next_step = self._step_after(step)

    def _step_after(self, step: int) -> int:  # the next global step to log at, every_n_steps mode
        return (step // (self.every_n_steps or 1) + 1) * (self.every_n_steps or 1)

    def close(self) -> None:
        """Flush and close the writers (done by `on_train_end`); the callback can be reused."""
        if self._logger is not None:
            self._logger.events.close()
            self._logger.records.close()
            self._last_history = self._logger.history
            _ACTIVE_DIRS.pop(self._folder, None)
            self._logger = None

    def _global_step(self, batch: int) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        return int(iterations.numpy()) if iterations is not None else batch + 1

    @property
    def history(self) -> dict:
        """method -> [(step, [Attribution per probe])] of the current or last run."""
        return self._logger.history if self._logger is not None else self._last_history

