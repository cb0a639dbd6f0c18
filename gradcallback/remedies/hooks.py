"""Where a penalty enters a model's training loss, and how it leaves again without a trace.

Keras 3 (every backend): each trainer calls `model.compute_loss(x, y, y_pred, sample_weight, training)`
inside its own differentiation (JAX's `stateless_compute_loss` under `value_and_grad`, torch's autograd
graph, TensorFlow's tape), so an instance attribute `compute_loss` that adds the penalty trains with it.
transformers TF models (tf-keras) run their own `train_step`, which calls `compiled_loss` and never
`compute_loss`: the batch is kept from an instance `train_step` and the penalty is added where
`compiled_loss` is called, still inside the tape. Either way the compiled train function is rebuilt
once (Keras caches it), and `remove()` deletes the instance attributes, so the class's own methods
are back exactly as they were.
"""

from __future__ import annotations

from typing import Any, Callable

# penalty(x, y) -> {group: scalar tensor}, already weighted sums are made here
Penalty = Callable[[Any, Any], dict]


class LossHook:
    """Adds `weight * penalty` to a model's training loss and logs each group's penalty with a Mean tracker."""

    def __init__(self, model: Any, penalty: Penalty, weight: float, trackers: dict[str, Any]):
        self.model, self.penalty, self.weight, self.trackers = model, penalty, weight, trackers
        self._names: list[str] = []

    def added(self, loss: Any, x: Any, y: Any) -> Any:
        """`loss` plus the weighted penalty of the batch (x, y); updates the trackers."""
        for name, value in self.penalty(x, y).items():
            self.trackers[name].update_state(value)
            loss = loss + self.weight * value
        return loss

    def install(self) -> None:
        """Puts the penalty into training, adds the trackers to the model's metrics, rebuilds the train function."""
        if _is_tf_keras(self.model):
            self._install_tf_keras()
        else:
            self._install_keras()
        self.model._metrics.extend(self.trackers.values())
        self._rebuild()

    def remove(self) -> None:
        """Deletes the instance attributes and the trackers; the train function is rebuilt without the penalty."""
        for name in self._names:
            object.__delattr__(self.model, name)
        self._names = []
        for tracker in self.trackers.values():
            if tracker in self.model._metrics:
                self.model._metrics.remove(tracker)
        self._rebuild()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self.model, name, value)  # outside Keras' attribute tracking
        self._names.append(name)

    def _install_keras(self) -> None:
        original = self.model.compute_loss

        def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = original(x, y, y_pred, sample_weight, training=training)
            return self.added(loss, x, y) if training else loss  # evaluation keeps the plain loss

        self._set("compute_loss", compute_loss)

    def _install_tf_keras(self) -> None:
        model, batch = self.model, {}
        original_step, original_loss = model.train_step, model.compiled_loss

        def train_step(data):
            x, y = (data[0], data[1] if len(data) > 1 else None) if isinstance(data, (tuple, list)) else (data, None)
            batch["x"], batch["y"] = x, y if y is not None else x.get("labels")
            try:
                return original_step(data)
            finally:
                batch.clear()

        self._set("train_step", train_step)
        self._set("compiled_loss", _AddedLoss(original_loss, lambda loss: self.added(loss, batch["x"], batch["y"])))

    def _rebuild(self) -> None:
        if getattr(self.model, "train_function", None) is not None:
            self.model.make_train_function(force=True)


class _AddedLoss:
    """tf-keras' `compiled_loss` with the penalty added to what it returns; everything else is the original's."""

    def __init__(self, original: Any, add: Callable[[Any], Any]):
        self._original, self._add = original, add

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._add(self._original(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _is_tf_keras(model: Any) -> bool:
    return any(c.__module__.startswith("tf_keras.") for c in type(model).__mro__)
