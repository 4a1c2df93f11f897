"""Reports as CSV: the same cells as the JSON, suppression marks included."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from services.reporting.models import Breakdown, Count, Durations, Rates, Series

Report = Breakdown | Series | Durations | Rates


def to_csv(report: Report) -> str:
    """One table per report; a last row named "total" where the report has totals."""
    if isinstance(report, Breakdown):
        rows: list[Sequence[object]] = [["value", "count"]]
        rows += [[k, v] for k, v in report.cells.items()]
        rows.append(["total", report.total])
    elif isinstance(report, Series):
        with_totals = bool(report.period_totals)
        rows = [["period", *report.values, *(["total"] if with_totals else [])]]
        for period in report.periods:
            row: list[Count] = [report.cells[period][v] for v in report.values]
            rows.append([period, *row, *([report.period_totals[period]] if with_totals else [])])
        totals = [report.value_totals[v] for v in report.values]
        rows.append(["total", *totals, *([report.total] if with_totals else [])])
    elif isinstance(report, Durations):
        rows = [["key", "count", "p50_minutes", "p90_minutes"]]
        rows += [
            [k, report.count[k], _blank(report.p50_minutes[k]), _blank(report.p90_minutes[k])]
            for k in report.count
        ]
    else:
        rows = [["key", "count", "hits", "rate"]]
        rows += [[k, report.count[k], report.hits[k], _blank(report.rate[k])] for k in report.count]
    return _write(rows)


def _blank(value: object) -> object:
    return "" if value is None else value


def _write(rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()
