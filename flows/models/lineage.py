"""The lineage picture: tables -> staging -> marts as a layered DAG, drawn as inline SVG.

No graphviz: the layout is computed here. Each relation gets a layer (0 for a relation that
reads nothing, else one more than the deepest relation it reads), the order inside a layer
is improved by a few barycentre sweeps (fewer crossings), and every edge is a cubic curve from
the right side of the reader's input to the left side of the reader. The result is the same
for the same graph (ties are broken by name), so the catalog is reproducible.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CHAR_WIDTH = 7.4  # px per character of 12px monospace, enough for the widest glyphs
NODE_HEIGHT = 26
ROW_GAP = 14
LAYER_GAP = 90
MARGIN = 16
SWEEPS = 4
GROUP_COLORS = {
    "tables": ("#e8f0fb", "#1b6ca8"),
    "staging": ("#fdf1e4", "#c0661a"),
    "marts": ("#e6f5ec", "#23844d"),
}
DEFAULT_COLORS = ("#f1f1f4", "#555b66")
GROUP_ORDER = ("tables", "staging", "marts")  # each group starts right of the one before


@dataclass(frozen=True)
class Node:
    name: str
    group: str
    layer: int
    x: float
    y: float
    width: float


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]  # (upstream, downstream)
    width: float
    height: float


def layers(
    names: Sequence[str],
    upstream: Mapping[str, Sequence[str]],
    floor: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """The longest-path layer of each relation: 0 when it reads nothing known, else one more
    than its deepest input; never below its ``floor`` (so every mart sits right of staging)."""
    known = set(names)
    floor = floor or {}
    found: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in found:
            return found[name]
        inputs = [u for u in upstream.get(name, ()) if u in known and u not in seen]
        deepest = 1 + max((depth(u, seen | {name}) for u in inputs), default=-1)
        found[name] = max(deepest, floor.get(name, 0))
        return found[name]

    for name in sorted(names):
        depth(name, frozenset())
    return found


def layout(
    groups: Mapping[str, str], upstream: Mapping[str, Sequence[str]], sweeps: int = SWEEPS
) -> Layout:
    """Place every relation of ``groups`` (name -> group) in its layer, left to right."""
    names = sorted(groups)
    level = grouped_layers(groups, upstream)
    edges = sorted((u, n) for n in names for u in upstream.get(n, ()) if u in groups)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(level[name], []).append(name)
    order = {
        layer: sorted(members, key=lambda n: (groups[n], n)) for layer, members in columns.items()
    }
    parents = {n: [u for u, d in edges if d == n] for n in names}
    children = {n: [d for u, d in edges if u == n] for n in names}
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        steps = sorted(order) if forward else sorted(order, reverse=True)
        for layer in steps[1:]:
            neighbours = parents if forward else children
            index = {n: i for members in order.values() for i, n in enumerate(members)}
            order[layer] = sorted(
                order[layer],
                key=lambda n: (_barycentre(neighbours[n], index, index[n]), groups[n], n),
            )
    width_of = {n: max(len(n), 6) * CHAR_WIDTH + 20 for n in names}
    column_width = {layer: max(width_of[n] for n in members) for layer, members in order.items()}
    tallest = max((len(members) for members in order.values()), default=0)
    height = 2 * MARGIN + tallest * NODE_HEIGHT + max(tallest - 1, 0) * ROW_GAP
    nodes: dict[str, Node] = {}
    x = float(MARGIN)
    for layer in sorted(order):
        members = order[layer]
        used = len(members) * NODE_HEIGHT + (len(members) - 1) * ROW_GAP
        y = (height - used) / 2
        for name in members:
            nodes[name] = Node(name, groups[name], layer, x, y, column_width[layer])
            y += NODE_HEIGHT + ROW_GAP
        x += column_width[layer] + LAYER_GAP
    total = x - LAYER_GAP + MARGIN if order else 2 * MARGIN
    return Layout(nodes, edges, total, height)


def grouped_layers(
    groups: Mapping[str, str], upstream: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Layers where every group of ``GROUP_ORDER`` starts right of the groups before it."""
    names = sorted(groups)
    floor: dict[str, int] = {}
    level = layers(names, upstream)
    for before, group in itertools.pairwise(GROUP_ORDER):
        done = GROUP_ORDER[: GROUP_ORDER.index(before) + 1]
        start = 1 + max((level[n] for n in names if groups[n] in done), default=-1)
        floor.update({n: start for n in names if groups[n] == group})
        level = layers(names, upstream, floor)
    return level


def _barycentre(neighbours: Sequence[str], index: Mapping[str, int], own: int) -> float:
    if not neighbours:
        return float(own)
    return sum(index[n] for n in neighbours) / len(neighbours)


def render_svg(graph: Layout, title: str = "Lineage: tables -> staging -> marts") -> str:
    """The layout as a standalone ``<svg>`` element (links to ``#name`` anchors)."""
    e = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
        f'viewBox="0 0 {graph.width:.0f} {graph.height:.0f}" '
        f'width="{graph.width:.0f}" height="{graph.height:.0f}">',
        f"<title>{e(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#8a93a3"/></marker></defs>',
    ]
    for source, target in graph.edges:
        a, b = graph.nodes[source], graph.nodes[target]
        x1, y1 = a.x + a.width, a.y + NODE_HEIGHT / 2
        x2, y2 = b.x - 2, b.y + NODE_HEIGHT / 2
        bend = max((x2 - x1) / 2, 30)
        out.append(
            f'<path class="edge" data-from="{e(source)}" data-to="{e(target)}" '
            f'd="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} '
            f'{x2:.1f},{y2:.1f}" fill="none" stroke="#8a93a3" stroke-width="1.2" '
            f'marker-end="url(#arrow)"><title>{e(source)} -> {e(target)}</title></path>'
        )
    for node in sorted(graph.nodes.values(), key=lambda n: (n.layer, n.y)):
        fill, stroke = GROUP_COLORS.get(node.group, DEFAULT_COLORS)
        out.append(
            f'<a href="#{e(node.name)}" class="node" data-name="{e(node.name)}" '
            f'data-group="{e(node.group)}"><rect x="{node.x:.1f}" y="{node.y:.1f}" '
            f'width="{node.width:.1f}" height="{NODE_HEIGHT}" rx="5" fill="{fill}" '
            f'stroke="{stroke}"/><text x="{node.x + 10:.1f}" y="{node.y + 17:.1f}" '
            f'font-family="ui-monospace, Menlo, Consolas, monospace" font-size="12" '
            f'fill="#1d2330">{e(node.name)}</text></a>'
        )
    out.append("</svg>")
    return "\n".join(out)
