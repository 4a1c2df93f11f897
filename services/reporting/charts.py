"""Small self-contained SVG line charts: no scripts, no fetched fonts, no suppressed points."""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape

from services.reporting.models import Durations, Series

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 170, 36, 44
PALETTE = (
    "#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#c5683b",
    "#4f7cac", "#a23b72", "#3b8ea5", "#f18f01", "#6a994e", "#bc4749", "#577590", "#9c6644",
    "#43aa8b",
)  # fmt: skip


def line_chart(series: Series, *, title: str, labels: dict[str, str] | None = None) -> str:
    """One polyline per value over the periods; a suppressed cell breaks its line."""
    names = labels or {}
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    visible = [v for row in series.cells.values() for v in row.values() if isinstance(v, int)]
    top = _nice(max(visible, default=0))
    count = len(series.periods)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = _frame(title, top, y)
    every = max(1, count // 8)
    for i, period in enumerate(series.periods):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{escape(period)}</text>"
            )
    for n, value in enumerate(series.values):
        colour = PALETTE[n % len(PALETTE)]
        name = escape(names.get(value, value))
        parts.append(f'<g class="series" data-series="{escape(value)}" stroke="{colour}">')
        parts.append(f"<title>{name}</title>")
        for segment in _segments(series, value):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in segment)
            parts.append(f'<polyline fill="none" stroke-width="2" points="{points}"/>')
            if len(segment) == 1:
                ((i, v),) = segment
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
        parts.append("</g>")
        ly = TOP + 14 * n
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT + 28}" y="{ly + 9}">{name}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def duration_chart(
    durations: Durations, *, title: str, labels: dict[str, str] | None = None
) -> str:
    """Grouped bars: p50 and p90 (minutes) per key; a key whose count is withheld has none."""
    names = labels or {}
    keys = list(durations.count)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    quantiles = {"p50": durations.p50_minutes, "p90": durations.p90_minutes}
    shown = [v for q in quantiles.values() for v in q.values() if v is not None]
    top = _nice(max(shown, default=0))
    slot = plot_w / max(len(keys), 1)
    bar = slot / (len(quantiles) + 1)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = _frame(title, top, y)
    for i, key in enumerate(keys):
        parts.append(
            f'<text x="{LEFT + slot * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{escape(names.get(key, key))}</text>'
        )
    for n, (name, values) in enumerate(quantiles.items()):
        colour = PALETTE[n % len(PALETTE)]
        parts.append(f'<g class="series" data-series="{name}" fill="{colour}">')
        parts.append(f"<title>{name}</title>")
        for i, key in enumerate(keys):
            value = values.get(key)
            if value is None:
                continue
            x = LEFT + slot * i + bar * (n + 0.5)
            parts.append(
                f'<rect data-key="{escape(key)}" x="{x:.1f}" y="{y(value):.1f}" '
                f'width="{bar:.1f}" height="{TOP + plot_h - y(value):.1f}"/>'
            )
        parts.append("</g>")
        ly = TOP + 14 * n
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT + 28}" y="{ly + 9}">{escape(names.get(name, name))}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _frame(title: str, top: int, y: Callable[[int], float]) -> list[str]:
    """The opening of a chart: its title and the horizontal grid with its scale."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for step in range(5):
        tick = top * step // 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    return parts


def _segments(series: Series, value: str) -> list[list[tuple[int, int]]]:
    """Runs of published points; "<5" and "x" are not drawn at any height."""
    out: list[list[tuple[int, int]]] = [[]]
    for i, period in enumerate(series.periods):
        cell = series.cells[period][value]
        if isinstance(cell, int):
            out[-1].append((i, cell))
        elif out[-1]:
            out.append([])
    return [s for s in out if s]


def _nice(value: int) -> int:
    """A round axis maximum at or above `value`: 5, 10, 20, 50, 100, ..."""
    top, steps = 5, (2, 2.5, 2)
    n = 0
    while top < value:
        top = int(top * steps[n % 3])
        n += 1
    return top
