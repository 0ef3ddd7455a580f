"""The board's charts: SVG drawn on the server by pygal, with no script in them.

Each chart is an image with a text alternative, and the page shows a table of the same
figures under it: a chart is never the only way to read a figure. The colours are the
Okabe–Ito palette (told apart with the commonest colour-blindnesses), every series is
named in the legend, and the tables carry the values.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pygal
from pygal.style import Style

#: Okabe & Ito's colour-blind-safe palette, in the order the series use it
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#999999",  # grey
    "#F0E442",  # yellow
)

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1b1b",
    foreground_strong="#000000",
    foreground_subtle="#6b6b6b",
    opacity="1",
    opacity_hover="0.85",
    colors=PALETTE,
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    value_font_size=12,
    tooltip_font_size=12,
)


def _options(**extra: object) -> dict[str, object]:
    return {
        "style": STYLE,
        "js": [],  # no script: the page works, and prints, without one
        "disable_xml_declaration": True,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 3,
        "value_formatter": lambda v: "" if v is None else f"{v:,g}",
        "truncate_legend": -1,
        "truncate_label": -1,
        "width": 900,
        "height": 440,
        "margin": 16,
        "margin_bottom": 40,  # room for the legend's last row
        "show_y_guides": True,
        **extra,
    }


class Chart:
    """An SVG chart and its text alternative, ready for an ``<img>``."""

    def __init__(self, svg: str, alt: str) -> None:
        self.svg = svg
        self.alt = alt

    @property
    def src(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


def _pounds(value: float | None) -> str:
    return "" if value is None else f"£{value:,.0f}"


def _draw(
    chart: pygal.graph.graph.Graph,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | int | None]]],
    alt: str,
    styles: Sequence[dict[str, object] | None] = (),
) -> Chart:
    """The chart with its labels and series, drawn: SVG text, no XML declaration."""
    chart.x_labels = list(labels)
    for i, (name, values) in enumerate(series):
        style = styles[i] if i < len(styles) else None
        chart.add(name, list(values), **({"stroke_style": style} if style else {}))
    return Chart(chart.render(is_unicode=True), alt)


def whole_ticks(top: float) -> list[int]:
    """Whole-number axis labels from 0 past ``top``: at most about eight of them (counts of
    beds or requests have no fractions)."""
    top = max(int(top), 1)
    step, ladder = 1, (1, 2, 5)  # 1, 2, 5, 10, 20, 50, ...
    rung = 0
    while top / step > 8:
        rung += 1
        step = ladder[rung % 3] * 10 ** (rung // 3)
    return list(range(0, top + step, step))


def stacked_bars(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *, y_title: str, alt: str
) -> Chart:
    tallest = max((sum(col) for col in zip(*(v for _n, v in series), strict=True)), default=0)
    chart = pygal.StackedBar(
        **_options(x_label_rotation=-30, y_title=y_title, y_labels=whole_ticks(tallest))
    )
    return _draw(chart, labels, series, alt)


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | int]]],
    *,
    y_title: str,
    alt: str,
    money: bool = False,
) -> Chart:
    extra: dict[str, object] = (
        {"value_formatter": _pounds, "formatter": _pounds}
        if money
        else {"y_labels": whole_ticks(max((max(v, default=0) for _n, v in series), default=0))}
    )
    chart = pygal.Bar(**_options(x_label_rotation=-30, y_title=y_title, **extra))
    return _draw(chart, labels, series, alt)


def lines(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    y_title: str,
    alt: str,
) -> Chart:
    chart = pygal.Line(
        **_options(
            y_title=y_title,
            range=(0, 100),
            include_x_axis=True,
            dots_size=4,
            stroke_style={"width": 3},
        )
    )
    # the second line is dashed: told apart without its colour
    return _draw(chart, labels, series, alt, [{"width": 3}, {"width": 3, "dasharray": "10, 6"}])
