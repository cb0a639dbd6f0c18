"""Which process of a tf.distribute job does the callback's work: the chief only.

Keras 3's callbacks do nothing about multiple workers, and tf-keras sends non-chief
workers' writes to a temporary folder. We decide ourselves: under
MultiWorkerMirroredStrategy only the chief explains and writes; every other worker
skips the callback entirely (no files, no extra compute). The attribution pass reads
mirrored weights locally, so no collective is left waiting on the other workers.
"""

from __future__ import annotations

from typing import Any


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
