"""TF Serving's request metrics and their Prometheus page (``--monitoring_config_file``).

The metrics, their labels and where they are recorded follow TF Serving's source:

* ``/tensorflow/serving/request_count`` {model_name, status}: counter, one per Predict/Classify/Regress over
  gRPC (``model_servers/prediction_service_impl.cc:59,98,126``) and per REST ``/v1`` request
  (``http_server.cc:201``); status is the TF error code name (``servables/tensorflow/util.cc:117-123``);
* ``/tensorflow/serving/request_latency`` {model_name, API, entrypoint}: histogram of microseconds of the
  successful requests (entrypoint ``GRPC`` or ``REST``; REST's API is the URL's verb, empty for GETs);
* ``/tensorflow/serving/runtime_latency`` {model_name, API, runtime}: histogram of microseconds of the model
  run itself (``predict_util.cc:113``, ``classifier.cc:78``, ``regressor.cc:77``; runtime ``TF1``);
* ``/tensorflow/serving/request_example_counts`` {model} histogram and ``request_example_count_total`` {model}
  counter, recorded by MultiInference (``multi_inference.cc:98``).

Latency buckets are ``Buckets::Exponential(10, 1.8, 33)``, example-count buckets ``Exponential(1, 2, 15)``
(``util.cc:55-90``), each with a last bucket up to DBL_MAX. The page (``util/prometheus_exporter.cc``): metrics
sorted by name, ``/`` turned into ``:``, a ``# TYPE`` line each (also for a metric with no points yet),
histograms as cumulative ``_bucket{...,le="..."}`` lines (the last ``le="+Inf"``), ``_sum`` and ``_count``;
numbers as ``absl::StrCat`` prints doubles (6 significant digits). Served as ``text/plain`` on the REST port at
``prometheus_config.path`` (default ``/monitoring/prometheus/metrics``, ``http_server.cc:224-239``).
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass, field

__all__ = ["METRICS", "Registry", "monitoring_path"]

_DBL_MAX = 1.7976931348623157e308


def _exponential(scale: float, growth: float, count: int) -> tuple[float, ...]:
    limits = [scale * growth ** i for i in range(count)]
    return (*limits, _DBL_MAX)


_LATENCY = _exponential(10, 1.8, 33)
_EXAMPLES = _exponential(1, 2, 15)


@dataclass
class _Metric:
    name: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None = None  # None: a counter
    cells: dict[tuple[str, ...], list[float]] = field(default_factory=dict)


def _num(value: float) -> str:
    """A double as absl::StrCat writes it (SixDigits: %g with 6 significant digits)."""
    return "%g" % value  # noqa: UP031 - exactly printf's %g


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _label_name(name: str) -> str:
    out = re.sub(r"[^a-zA-Z0-9]", "_", name)
    return "_" + out if out[:1].isdigit() else out


class Registry:
    """The serving metrics of this process (TF's CollectionRegistry, for the metrics the emulator records)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metrics = {m.name: m for m in (
            _Metric("/tensorflow/serving/request_count", ("model_name", "status")),
            _Metric("/tensorflow/serving/request_example_count_total", ("model",)),
            _Metric("/tensorflow/serving/request_example_counts", ("model",), _EXAMPLES),
            _Metric("/tensorflow/serving/request_latency", ("model_name", "API", "entrypoint"), _LATENCY),
            _Metric("/tensorflow/serving/runtime_latency", ("model_name", "API", "runtime"), _LATENCY),
        )}

    def _add(self, name: str, labels: tuple[str, ...], value: float) -> None:
        metric = self.metrics[name]
        with self.lock:
            if metric.buckets is None:
                cell = metric.cells.setdefault(labels, [0.0])
                cell[0] += value
                return
            cell = metric.cells.setdefault(labels, [0.0] * (len(metric.buckets) + 1))
            # TF's Histogram::Add: the bucket whose limit is the first one above the value
            cell[min(bisect.bisect_right(metric.buckets, value), len(metric.buckets) - 1)] += 1
            cell[-1] += value

    def request(self, model: str, code: str) -> None:
        self._add("/tensorflow/serving/request_count", (model, code), 1)

    def request_latency(self, model: str, api: str, entrypoint: str, micros: float) -> None:
        self._add("/tensorflow/serving/request_latency", (model, api, entrypoint), int(micros))

    def runtime_latency(self, model: str, api: str, micros: float, runtime: str = "TF1") -> None:
        self._add("/tensorflow/serving/runtime_latency", (model, api, runtime), int(micros))

    def examples(self, model: str, count: int) -> None:
        self._add("/tensorflow/serving/request_example_counts", (model,), count)
        self._add("/tensorflow/serving/request_example_count_total", (model,), count)

    def value(self, name: str) -> int:
        """The first point's integer value of a counter (0 if none): what ReloadConfigResponse.metric reports."""
        metric = self.metrics.get(name)
        if metric is None or metric.buckets is not None:
            return 0
        with self.lock:
            cells = sorted(metric.cells.items())
        return int(cells[0][1][0]) if cells else 0

    def page(self) -> str:
        """The Prometheus text page, as PrometheusExporter::GeneratePage writes it."""
        lines: list[str] = []
        with self.lock:
            snapshot = [(m, sorted((k, list(v)) for k, v in m.cells.items())) for m in self.metrics.values()]
        for metric, cells in sorted(snapshot, key=lambda mc: mc[0].name):
            prom = re.sub(r"[^a-zA-Z0-9_]", ":", metric.name)
            prom = "_" + prom if prom[:1].isdigit() else prom
            lines.append(f"# TYPE {prom} {'counter' if metric.buckets is None else 'histogram'}")
            for labels, values in cells:
                pairs = [f'{_label_name(n)}="{_label_value(v)}"' for n, v in zip(metric.labels, labels, strict=True)]
                if metric.buckets is None:
                    lines.append(f"{prom}{{{','.join(pairs)}}} {int(values[0])}")
                    continue
                prefix = f"{prom}_bucket{{{','.join(pairs)}{',' if pairs else ''}"
                total = 0
                for i, limit in enumerate(metric.buckets):
                    total += int(values[i])
                    le = _num(limit) if i < len(metric.buckets) - 1 else "+Inf"
                    lines.append(f'{prefix}le="{le}"}} {total}')
                lines.append(f"{prom}_sum{{{','.join(pairs)}}} {_num(values[-1])}")
                lines.append(f"{prom}_count{{{','.join(pairs)}}} {total}")
        return "\n".join(lines) + "\n"


#: The process's registry (one emulator per process).
METRICS = Registry()


def monitoring_path(config_file: str) -> str | None:
    """The Prometheus path a MonitoringConfig text file enables, or None. Raises ServingError if unreadable."""
    if not config_file:
        return None
    from pytest_savedmodel.serving.emulator.protos import messages, parse_text_file

    config = parse_text_file(config_file, messages()["tensorflow.serving.MonitoringConfig"]())
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or "/monitoring/prometheus/metrics"
