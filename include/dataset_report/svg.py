"""Inline SVG charts for the static report (no plotting library, no scripts, no network)."""

from __future__ import annotations

from html import escape

WIDTH, BAR_H, LABEL_W = 560, 18, 170


def bars(counts: dict, title: str = "", unit: str = "rows") -> str:
    """Horizontal bars, one per key (label, bar, count)."""
    if not counts:
        return '<p class="empty">none</p>'
    top = max(counts.values()) or 1
    h = BAR_H * len(counts) + 8
    parts = [f'<svg class="chart" width="{WIDTH}" height="{h}" role="img" aria-label="{escape(title)}">']
    for i, (label, n) in enumerate(counts.items()):
        y = 4 + i * BAR_H
        w = max(1, int((WIDTH - LABEL_W - 70) * n / top)) if n else 0
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(str(label))[:28]}</text>'
            f'<rect x="{LABEL_W}" y="{y + 2}" width="{w}" height="{BAR_H - 5}"><title>{escape(str(label))}: '
            f"{n} {unit}</title></rect>"
            f'<text x="{LABEL_W + w + 5}" y="{y + 13}">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bin_edges(values: list[float], bins: int) -> list[float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1
    step = (hi - lo) / bins
    return [lo + i * step for i in range(bins + 1)]


def histogram_counts(values: list[float], bins: int = 20) -> tuple[list[float], list[int]]:
    """Equal-width bins over [min, max]; the last bin includes max."""
    edges = bin_edges(values, bins)
    counts = [0] * bins
    width = edges[1] - edges[0]
    for v in values:
        counts[min(bins - 1, int((v - edges[0]) / width))] += 1
    return edges, counts


def histogram(values: list[float], title: str, bins: int = 20, height: int = 140) -> str:
    """Vertical-bar histogram with min / max on the axis and each bin's range as a tooltip."""
    if not values:
        return '<p class="empty">no values</p>'
    edges, counts = histogram_counts(values, bins)
    top = max(counts) or 1
    bw = (WIDTH - 40) / bins
    parts = [
        f'<svg class="chart" width="{WIDTH}" height="{height + 34}" role="img" aria-label="{escape(title)}">'
    ]
    for i, n in enumerate(counts):
        h = int(height * n / top)
        parts.append(
            f'<rect x="{20 + i * bw:.1f}" y="{height - h + 4}" width="{bw - 2:.1f}" height="{h}">'
            f"<title>{edges[i]:.4g}–{edges[i + 1]:.4g}: {n}</title></rect>"
        )
    parts.append(
        f'<text x="20" y="{height + 20}">{edges[0]:.4g}</text>'
        f'<text x="{WIDTH - 20}" y="{height + 20}" text-anchor="end">{edges[-1]:.4g}</text>'
        f'<text x="{WIDTH / 2}" y="{height + 20}" text-anchor="middle">{escape(title)} (n={len(values)}, '
        f"max bin {top})</text></svg>"
    )
    return "".join(parts)
