"""Prometheus metrics: one registry per app, labelled by route template, never by raw path."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """Request counts and latencies of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "sanad_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "sanad_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )


class MetricsMiddleware:
    """A pure ASGI middleware: cheap enough for the intake hot path."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # Unmatched paths share one label, so a scan cannot blow up the series count.
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)


class CountersCollector(Collector):
    """Exposes counters that live on runtime objects (relay, consumers) at scrape time."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, dict[str, str], float]]]):
        self._read = read

    def collect(self) -> Iterable[Metric]:
        families: dict[str, CounterMetricFamily] = {}
        for name, doc, labels, value in self._read():
            family = families.get(name)
            if family is None:
                family = CounterMetricFamily(name, doc, labels=sorted(labels))
                families[name] = family
            family.add_metric([labels[k] for k in sorted(labels)], value)
        return list(families.values())
