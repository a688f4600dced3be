"""A picture of a search tree that a person can open: one self-contained HTML file.

The page holds an inline SVG and a few lines of inline script, nothing fetched from anywhere
(it must open offline). Layout, computed here (no graphviz): one row per depth along the
first-parent tree; leaves get consecutive columns in depth-first order, children in creation
order, and a parent sits centred over its children, so subtrees never overlap. Extra parents
of merged programs (transpositions) are drawn as dashed edges.

Nodes are coloured by visible score (red 0 -> yellow -> green 1; grey: not scored), a solved
node has a thick outline and the returned node a blue ring. Hovering a node shows its program
(SVG <title>), clicking pins it in the side panel. An edge is labelled with its first hunk's
header and first changed line, shortened, above the child; hovering it shows the whole edit.
"""

from __future__ import annotations

import colorsys
import html
import json
from dataclasses import dataclass

from agent.search.tree import Node, SearchTree, UNSCORED
from envs.diff import Edit, render_edit, render_hunk_header

X_STEP, Y_STEP, MARGIN, RADIUS = 120, 110, 60, 16  # pixels
LABEL_CHARS = 18  # edge labels are cut to this many characters (~6 px each: narrower than X_STEP)


@dataclass(frozen=True)
class Placed:
    node: Node
    x: float
    y: float


def layout(tree: SearchTree) -> dict[str, Placed]:
    """Pixel positions by digest: rows by depth, columns by the tidy leaf order (module doc)."""
    kids: dict[str, list[Node]] = {n.digest: [] for n in tree.nodes()}
    for node in tree.nodes():  # creation order: siblings stay in the order they were made
        if node.parent is not None:
            kids[node.parent].append(node)
    column: dict[str, float] = {}
    next_leaf = 0
    stack: list[tuple[Node, bool]] = [(tree.node(tree.root), False)]
    while stack:  # iterative post-order: deep trees must not hit the recursion limit
        node, done = stack.pop()
        children = kids[node.digest]
        if not children:
            column[node.digest], next_leaf = float(next_leaf), next_leaf + 1
        elif done:
            column[node.digest] = (column[children[0].digest] + column[children[-1].digest]) / 2
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(children))
    return {d: Placed(tree.node(d), MARGIN + x * X_STEP, MARGIN + tree.node(d).depth * Y_STEP)
            for d, x in column.items()}


def score_colour(score: float | None) -> str:
    """Hue from red (0) through yellow to green (1) as #rrggbb (any SVG viewer reads it);
    grey when unscored."""
    if score is UNSCORED:
        return "#bbbbbb"
    red, green, blue = colorsys.hls_to_rgb(max(0.0, min(1.0, score)) / 3, 0.55, 0.7)  # hue 1/3 = green
    return f"#{round(255 * red):02x}{round(255 * green):02x}{round(255 * blue):02x}"


def edge_label(edit: Edit | None) -> str:
    """'-3,0 +4 return x': the first hunk's header without its @@ marks and its first added
    line (or "del" and its first removed line), cut to LABEL_CHARS ("…"); a "+" after it says
    more hunks follow."""
    if edit is None or not edit.hunks:
        return ""
    hunk = edit.hunks[0]
    added = [line[1:].strip() for line in hunk.lines if line.startswith("+") and line[1:].strip()]
    removed = [line[1:].strip() for line in hunk.lines if line.startswith("-")]
    changed = added[0] if added else f"del {removed[0]}" if removed else ""
    text = f"{render_hunk_header(hunk).strip('@ ')} {changed}".strip()
    more = "+" if len(edit.hunks) > 1 else ""
    return (text[: LABEL_CHARS - 1] + "…" if len(text) > LABEL_CHARS else text) + more


def _node_tip(node: Node) -> str:
    score = "not scored" if node.score is UNSCORED else f"{node.score:.2f}"
    passed = f" ({node.report.passed}/{node.report.total} tests)" if node.report is not None else ""
    head = f"depth {node.depth}, score {score}{passed}, log-prob {node.logprob:.2f}"
    return f"{head}\n\n{node.program.text or '(empty program)'}"


def _svg(tree: SearchTree, placed: dict[str, Placed], chosen: str | None) -> str:
    width = max(p.x for p in placed.values()) + MARGIN
    height = max(p.y for p in placed.values()) + MARGIN
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'font-family="monospace" font-size="10">']
    for parent, child, data in tree.graph.edges(data=True):
        a, b = placed[parent], placed[child]
        first = b.node.parent == parent
        edit = data["info"].edit
        tip = html.escape(render_edit(edit) if edit is not None else "")
        dash = "" if first else ' stroke-dasharray="4 3"'
        out.append(f'<g class="edge"><title>{tip}</title>'
                   f'<line x1="{a.x:.0f}" y1="{a.y + RADIUS:.0f}" x2="{b.x:.0f}" y2="{b.y - RADIUS:.0f}" '
                   f'stroke="#888"{dash}/>')
        if first:  # just above the child: siblings are X_STEP apart, so labels never collide
            out.append(f'<text x="{b.x:.0f}" y="{b.y - RADIUS - 5:.0f}" text-anchor="middle" fill="#444">'
                       f'{html.escape(edge_label(edit))}</text>')
        out.append("</g>")
    for digest, p in placed.items():
        node = p.node
        stroke = "#1f5fd6" if digest == chosen else "#333"
        width_px = 4 if node.solved or digest == chosen else 1
        label = "" if node.score is UNSCORED else f"{node.score:.2f}".rstrip("0").rstrip(".")
        out.append(f'<g class="node" data-id="{digest}"><title>{html.escape(_node_tip(node))}</title>'
                   f'<circle cx="{p.x:.0f}" cy="{p.y:.0f}" r="{RADIUS}" fill="{score_colour(node.score)}" '
                   f'stroke="{stroke}" stroke-width="{width_px}"/>'
                   f'<text x="{p.x:.0f}" y="{p.y + 3:.0f}" text-anchor="middle">{label}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 0; display: flex; height: 100vh; }}
#tree {{ flex: 1; overflow: auto; }}
#side {{ width: 32em; overflow: auto; border-left: 1px solid #ccc; padding: 0 1em; }}
pre {{ font-size: 12px; white-space: pre-wrap; }}
.node {{ cursor: pointer; }}
</style></head>
<body>
<div id="tree"><h3 style="margin-left:1em">{title}</h3><p style="margin-left:1em">{summary}</p>
<p style="margin-left:1em">colour: visible score (red 0, green 1, grey not scored); thick outline: solved;
blue ring: returned program; dashed edge: a program reached again (merged). Hover a node for its
program, click to pin it; hover an edge for its edit.</p>
{svg}</div>
<div id="side"><h3>Program</h3><pre id="program">(click a node)</pre></div>
<script>
const PROGRAMS = {programs};
document.querySelectorAll('.node').forEach(function (g) {{
  g.addEventListener('click', function () {{
    document.getElementById('program').textContent = PROGRAMS[g.dataset.id];
  }});
}});
</script>
</body></html>
"""


def render_html(tree: SearchTree, *, chosen: str | None = None, title: str = "search tree",
                summary: str = "") -> str:
    """The whole page as a string (see the module docstring)."""
    placed = layout(tree)
    programs = {d: _node_tip(p.node) for d, p in placed.items()}
    # "</" inside a JSON string would end the <script> element early.
    data = json.dumps(programs, ensure_ascii=False).replace("</", "<\\/")
    return _PAGE.format(title=html.escape(title), summary=html.escape(summary),
                        svg=_svg(tree, placed, chosen), programs=data)
