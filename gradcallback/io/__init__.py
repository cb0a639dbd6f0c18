"""Event files, the run's records and the dashboard payload, and reading a run back.

`PLUGIN_NAME` lives here, with the payload format, so that both the writers below and the TensorBoard
plugin above read it from one place; this module imports nothing, so the plugin's entry point stays tiny.
"""

PLUGIN_NAME = "gradcallback"  # the TensorBoard plugin name the payloads are written under
