"""Print the traces of one ticket as timelines: `python -m tools.trace <ticket_id>`.

Reads the JSON-lines span files that `shared.telemetry` writes when no OTLP
endpoint is set (one file per service under var/traces).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

TICKET_ATTRIBUTE = "sanad.ticket_id"


@dataclass(frozen=True)
class SpanRow:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    start_ns: int
    duration_ms: float
    attributes: dict[str, Any]


def read_spans(traces_dir: Path) -> list[SpanRow]:
    """Every readable span in every *.jsonl file under `traces_dir`."""
    rows: list[SpanRow] = []
    for path in sorted(traces_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            rows.extend(row for row in map(_parse_line, lines) if row is not None)
    return rows


def _parse_line(line: str) -> SpanRow | None:
    # A line cut short by a crash, or written by something else, is skipped.
    try:
        record = json.loads(line)
        start = _to_ns(record["start"])
        duration = record.get("duration_ms")
        if duration is None:
            duration = (_to_ns(record["end"]) - start) / 1e6
        return SpanRow(
            trace_id=str(record["trace_id"]),
            span_id=str(record["span_id"]),
            parent_span_id=record.get("parent_span_id"),
            name=str(record.get("name", "?")),
            service=str(record.get("service") or "?"),
            start_ns=start,
            duration_ms=float(duration),
            attributes=dict(record.get("attributes") or {}),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _to_ns(value: int | float | str) -> int:
    if isinstance(value, str):
        return int(datetime.fromisoformat(value).timestamp() * 1e9)
    return int(value)


def traces_for_ticket(spans: Iterable[SpanRow], ticket_id: str) -> list[list[SpanRow]]:
    """The traces with a span about `ticket_id`, earliest first."""
    by_trace: dict[str, list[SpanRow]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    wanted = [
        trace
        for trace in by_trace.values()
        if any(str(s.attributes.get(TICKET_ATTRIBUTE)) == ticket_id for s in trace)
    ]
    return sorted(wanted, key=lambda trace: min(s.start_ns for s in trace))


def walk(trace: Sequence[SpanRow]) -> Iterator[tuple[int, SpanRow]]:
    """(depth, span) depth-first, siblings by start; spans whose parent is missing are roots."""
    ids = {s.span_id for s in trace}
    children: dict[str | None, list[SpanRow]] = defaultdict(list)
    for span in trace:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children[parent].append(span)
    seen: set[str] = set()

    def visit(parent: str | None, depth: int) -> Iterator[tuple[int, SpanRow]]:
        for span in sorted(children[parent], key=lambda s: s.start_ns):
            if span.span_id not in seen:
                seen.add(span.span_id)
                yield depth, span
                yield from visit(span.span_id, depth + 1)

    yield from visit(None, 0)


def timeline(trace: Sequence[SpanRow]) -> list[str]:
    """Header and one line per span: offset ms, service, indented name, duration ms."""
    start = min(s.start_ns for s in trace)
    end = max(s.start_ns + int(s.duration_ms * 1e6) for s in trace)
    services = sorted({s.service for s in trace})
    rows = [(d, s, "  " * d + s.name) for d, s in walk(trace)]
    name_width = max(len("span"), *(len(label) for _, _, label in rows))
    service_width = max(len("service"), *(len(s) for s in services))
    lines = [
        f"trace {trace[0].trace_id}  {len(trace)} spans, {', '.join(services)}, "
        f"{(end - start) / 1e6:.2f} ms",
        f"{'offset ms':>10}  {'service':<{service_width}}  {'span':<{name_width}}  duration ms",
    ]
    for _, span, label in rows:
        offset = (span.start_ns - start) / 1e6
        lines.append(
            f"{offset:>10.2f}  {span.service:<{service_width}}  {label:<{name_width}}"
            f"  {span.duration_ms:>11.2f}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.trace", description=__doc__)
    parser.add_argument("ticket_id")
    parser.add_argument("--traces-dir", type=Path, default=Path("var/traces"))
    args = parser.parse_args(argv)
    traces = traces_for_ticket(read_spans(args.traces_dir), args.ticket_id)
    if not traces:
        print(
            f"no trace mentions ticket {args.ticket_id} in {args.traces_dir}/*.jsonl",
            file=sys.stderr,
        )
        return 1
    print("\n\n".join("\n".join(timeline(trace)) for trace in traces))
    return 0


if __name__ == "__main__":
    sys.exit(main())
