"""The Attributions dashboard: a TensorBoard plugin (entry point `tensorboard_plugins: gradcallback`).

This module is what TensorBoard imports at start for every user who has gradcallback installed,
and a plugin whose import fails takes all of TensorBoard down (TensorBoard does not guard
`entry_point.load()`). So it imports nothing but the standard library and TensorBoard's own
base class, and the real plugin (`plugin.py`) is imported in `load()`, which TensorBoard does
guard: a failure there logs an error and leaves the other dashboards running.
"""

from __future__ import annotations

import logging

from ..io import PLUGIN_NAME

try:
    from tensorboard.plugins.base_plugin import TBLoader as _Base
except Exception:  # TensorBoard absent or broken: keep the module importable all the same
    _Base = object


class GradCallbackLoader(_Base):  # type: ignore[misc, valid-type]
    """TensorBoard plugin loader: builds the Attributions dashboard when TensorBoard starts."""

    plugin_name = PLUGIN_NAME  # read by the launcher to avoid registering the name twice

    def load(self, context):  # noqa: ANN001, ANN201 (TensorBoard's TBLoader signature)
        """The Attributions plugin for TensorBoard's `context`, or None (logged) when the plugin cannot be imported."""
        try:
            from .plugin import AttributionsPlugin
        except Exception:
            logging.getLogger(__name__).exception("gradcallback dashboard could not be imported; skipped")
            return None
        return AttributionsPlugin(context)
