"""The Attributions dashboard's TensorBoard plugin: static front-end files and three data routes.

All data comes through `context.data_provider` (never the multiplexer, which is None under the
default Rust data server). Routes, under `/data/plugin/gradcallback/`:

    runs                          runs and their methods (tags), from the summary metadata only
    steps?run=R&method=M          the logged steps of one run and method, those with alerts, and the
                                  methods the alerts at each alert step name:
                                  {"steps": [0, 1, 2], "alert_steps": [1],
                                   "alert_methods": {"1": ["integrated_gradients"]}}
    payload?run=R&method=M&step=S one step's payload (see payload.py), gzip as written

The browser asks for one (run, method, step) at a time. The data provider can only read a
whole time series, so the series read last are kept in a small cache, checked against the
series' max step and wall time (cheap metadata) on every request: moving the slider reads
nothing from disk, and a step logged while the page is open shows up on the next request.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import OrderedDict

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from ..io.payload import alert_methods, tag_for
from . import PLUGIN_NAME
from .assets import STATIC, static_text

CACHED_SERIES = 8  # 8 series of 100 steps x 1,000 probes hold about 100 MB
UNLIMITED = 1 << 30  # read_tensors keeps at most `downsample` points; ours are all wanted


class AttributionsPlugin(base_plugin.TBPlugin):
    """Serves the Attributions tab: the viewer's ES modules and the per-step payloads."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._provider = context.data_provider
        hint = (context.sampling_hints or {}).get(PLUGIN_NAME)
        self._downsample = hint if hint else UNLIMITED
        self._static = {name: static_text(name) for name in STATIC}
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get_plugin_apps(self) -> dict:
        """TensorBoard hook: the routes, the viewer's static files and the runs, steps and payload endpoints."""
        apps = {f"/{name}": self._static_app(name) for name in STATIC}
        apps.update({"/runs": self._serve_runs, "/steps": self._serve_steps, "/payload": self._serve_payload})
        return apps

    def is_active(self) -> bool:
        """TensorBoard hook: False; TensorBoard shows the tab itself once a run holds data under the plugin name."""
        return False  # TensorBoard enables the tab itself when a run holds data under our plugin name

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        """TensorBoard hook: the tab's name and the ES module that draws it."""
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Attributions")

    def _static_app(self, name: str):
        @wrappers.Request.application
        def serve(request):
            return http_util.Respond(request, self._static[name], STATIC[name])

        return serve

    @wrappers.Request.application
    def _serve_runs(self, request):
        ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        listing = self._provider.list_tensors(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME)
        runs = [{"run": run, "methods": [{"method": _method(tag, series), "max_step": series.max_step}
                                         for tag, series in sorted(tags.items())]}
                for run, tags in sorted(listing.items())]
        return http_util.Respond(request, {"runs": runs}, "application/json")

    @wrappers.Request.application
    def _serve_steps(self, request):
        series, alerts = self._series(request, with_alerts=True)
        answer = {"steps": sorted(series), "alert_steps": sorted(alerts),
                  "alert_methods": {str(step): methods for step, methods in sorted(alerts.items())}}
        return http_util.Respond(request, answer, "application/json")

    @wrappers.Request.application
    def _serve_payload(self, request):
        try:
            step = int(request.args.get("step", ""))
        except ValueError:
            raise errors.InvalidArgumentError("Expected an integer `step` parameter") from None
        data = self._series(request).get(step)
        if data is None:
            raise errors.NotFoundError(f"No dashboard data at step {step}")
        if "gzip" in request.headers.get("Accept-Encoding", ""):  # every browser: it decompresses natively
            return http_util.Respond(request, data, "application/octet-stream", content_encoding="gzip")
        return http_util.Respond(request, gzip.decompress(data), "application/octet-stream")

    def _series(self, request, with_alerts: bool = False):
        """The requested run and method's payloads, step -> payload, from the cache when still current; with
        `with_alerts`, also step -> methods of the steps whose payload carries alerts (the view opens on
        the latest, on the method its alert names)."""
        run, method = request.args.get("run"), request.args.get("method")
        if not run or not method:
            raise errors.InvalidArgumentError("Expected `run` and `method` parameters")
        ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        wanted = provider.RunTagFilter(runs=[run], tags=[tag_for(method)])
        listing = self._provider.list_tensors(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME,
                                              run_tag_filter=wanted)
        meta = listing.get(run, {}).get(tag_for(method))
        if meta is None:
            raise errors.NotFoundError(f"No dashboard data for run {run!r}, method {method!r}")
        key, version = (eid, run, tag_for(method)), (meta.max_step, meta.max_wall_time)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                self._cache.move_to_end(key)
        if hit is None or hit[0] != version:
            hit = (version, *self._read(ctx, eid, wanted, run, tag_for(method)))
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > CACHED_SERIES:
                    self._cache.popitem(last=False)
        return (hit[1], hit[2]) if with_alerts else hit[1]

    def _read(self, ctx, eid: str, wanted: provider.RunTagFilter, run: str, tag: str):
        """(step -> payload, alert step -> methods named) of one series, read through the data provider."""
        data = self._provider.read_tensors(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME,
                                           downsample=self._downsample, run_tag_filter=wanted)
        series = {d.step: bytes(d.numpy.item()) for d in data.get(run, {}).get(tag, [])}
        return series, alert_methods(series)


def _method(tag: str, series: provider.TensorTimeSeries) -> str:
    try:
        return str(json.loads(series.plugin_content.decode("utf-8"))["method"])
    except (ValueError, KeyError, TypeError, AttributeError):  # written by another version: use the tag
        return tag.split("/", 1)[-1]
