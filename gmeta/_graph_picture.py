"""Pictures of a graph's placement for ``gmeta graph``: DOT, SVG and PNG, nodes coloured by the
device they are assigned, cross-device edges red and dashed.

There is no Graphviz here, so SVG and PNG use a simple layered layout of their own: cycles broken
by reversing DFS back edges, longest-path layers (a source node is pulled down to just above its
first consumer, so constants do not all crowd the top row), a few barycenter sweeps to order each
layer, rows wrapped when a layer is wider than ``max_row_width``, straight edges. Graphs with more
than ``max_boxes`` nodes are collapsed to their top-level name scopes (one box per scope, its
colour the device most of its nodes run on, a stripe showing the mix); when even those are too
many, scopes that differ only by a numeric suffix (``layer_0`` ... ``layer_2249``) share a box.
The DOT file leaves layout to Graphviz.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from xml.sax.saxutils import escape, quoteattr

# Light fills (text stays readable), one per device in legend order: CPU first, then GPUs.
PALETTE = ["#a6cee3", "#fdbf6f", "#b2df8a", "#cab2d6", "#fb9a99", "#ffff99", "#8dd3c7",
           "#bebada", "#fccde5", "#d9d9d9"]
UNPLACED = "#eeeeee"
CROSS_COLOUR = "#d62728"
DATA_COLOUR = "#7f7f7f"
CONTROL_COLOUR = "#b5b5b5"
BORDER = "#404040"
OTHER = "(other scopes)"


@dataclasses.dataclass
class Box:
    """One drawn node: an operation, or a name scope standing for several."""

    title: str
    subtitle: str  # op type, or what a scope box holds (a second line may follow: extra)
    devices: collections.Counter  # device label -> nodes of the box on it
    tooltip: str = ""
    cross_inside: int = 0  # cross-device edges between nodes of the box
    extra: str = ""

    def lines(self, width: int = 30) -> list:
        """The label lines, cut to ``width`` characters (a name keeps its end)."""
        out = [_clip(self.title, width), self.subtitle[:width]]
        return out + ([self.extra[:width]] if self.extra else [])

    @property
    def device(self) -> str:
        return self.devices.most_common(1)[0][0] if self.devices else ""


@dataclasses.dataclass
class Link:
    src: int
    dst: int
    cross: bool  # some edge it stands for crosses devices
    control: bool  # every edge it stands for is a control edge
    count: int = 1


@dataclasses.dataclass
class Picture:
    boxes: list
    links: list
    colours: dict  # device label -> fill colour, in legend order
    level: str  # "node", "scope" or "scope-family"
    nodes: int  # operations in the graph
    title: str = ""


def _device_key(label: str):
    m = re.search(r"(CPU|GPU):(\d+)", label)
    if not m:
        return (2, label, 0)
    return (0 if m.group(1) == "CPU" else 1, "", int(m.group(2)), label)


def device_colour(label: str, i: int = 0) -> str:
    """The fill of a device: CPU:0 the first colour, GPU:n the (n+2)-th, whatever else is in
    the picture (other devices: by their position ``i`` in the legend)."""
    m = re.search(r"(CPU|GPU):(\d+)", label)
    if m is None:
        return PALETTE[i % len(PALETTE)]
    n = int(m.group(2))
    return PALETTE[0] if m.group(1) == "CPU" and n == 0 else PALETTE[(1 + n) % len(PALETTE)]


def _family(scope: str) -> str:
    base = re.sub(r"(_?\d+)+$", "", scope)
    return (base or scope) + ("*" if base and base != scope else "")


def build(ops, assigned: dict, requested: dict = None, max_boxes: int = 150,
          level: str = "auto", title: str = "") -> Picture:
    """The picture of ``ops`` (a graph's operations, in creation order).

    Args:
        assigned: op name -> device label it runs on (missing: not placed).
        requested: op name -> the device it asked for (shown in tooltips).
        max_boxes: ``level="auto"`` draws every node up to this many, else collapses.
        level: "auto", "node" or "scope".
    """
    requested = requested or {}
    ops = list(ops)
    if level not in ("auto", "node", "scope"):
        raise ValueError(f"level must be auto, node or scope, not {level!r}")
    if level == "node" or (level == "auto" and len(ops) <= max_boxes):
        key_of = {op.name: op.name for op in ops}
        chosen = "node"
    else:
        key_of = {op.name: op.name.split("/")[0] for op in ops}
        chosen = "scope"
        if len(set(key_of.values())) > max_boxes:
            key_of = {n: _family(k) for n, k in key_of.items()}
            chosen = "scope-family"
        sizes = collections.Counter(key_of.values())
        if len(sizes) > max_boxes:  # keep the biggest; the rest share one box
            keep = {k for k, _ in sizes.most_common(max(1, max_boxes - 1))}
            key_of = {n: k if k in keep else OTHER for n, k in key_of.items()}
    index: dict = {}
    members: list = []
    for op in ops:
        k = key_of[op.name]
        if k not in index:
            index[k] = len(members)
            members.append([])
        members[index[k]].append(op)
    keys = list(index)
    boxes = [_box(key, group, chosen, assigned, requested) for key, group in zip(keys, members)]
    links: dict = {}
    for op in ops:
        dst = index[key_of[op.name]]
        dev = assigned.get(op.name, "")
        edges = [(t.op, False) for t in op.inputs] + [(c, True) for c in op.control_inputs]
        for src_op, control in edges:
            src = index[key_of[src_op.name]]
            cross = not control and assigned.get(src_op.name, "") != dev
            if src == dst:
                boxes[src].cross_inside += cross
                continue
            link = links.get((src, dst))
            if link is None:
                links[(src, dst)] = Link(src, dst, cross, control)
            else:
                link.count += 1
                link.cross = link.cross or cross
                link.control = link.control and control
    for b in boxes:
        if b.cross_inside:
            copies = f"{b.cross_inside} cop{'ies' if b.cross_inside > 1 else 'y'} inside"
            b.extra = (b.extra + ", " if b.extra else "") + copies
            b.tooltip += f"; {b.cross_inside} cross-device edges inside"
    labels = sorted({d for b in boxes for d in b.devices}, key=_device_key)
    colours = {d: device_colour(d, i) for i, d in enumerate(labels)}
    return Picture(boxes, list(links.values()), colours, chosen, len(ops), title)


def _box(key, group, level, assigned, requested) -> Box:
    devices = collections.Counter(assigned[op.name] for op in group if op.name in assigned)
    if level == "node":
        op = group[0]
        req = requested.get(op.name) or "(none)"
        tip = f"{op.name} ({op.type}): requested {req}, runs on {assigned.get(op.name, '?')}"
        return Box(op.name, op.type, devices, tip)
    scopes = {op.name.split("/")[0] for op in group}
    name = key
    types = collections.Counter(op.type for op in group)
    sub = f"{len(group)} node" + ("s" if len(group) > 1 else "")
    if len(scopes) > 1:
        sub += f" in {len(scopes)} scopes"
    extra = f"{len(devices)} devices" if len(devices) > 1 else ""
    tip = f"{name}: {len(group)} nodes (" + ", ".join(
        f"{n} {t}" for t, n in types.most_common(6)) + "); " + ", ".join(
        f"{n} on {d}" for d, n in devices.most_common())
    return Box(name, sub, devices, tip, extra=extra)


# -- layout ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Layout:
    width: int
    height: int
    boxes: list  # (x, y, w, h) per box
    legend: list  # (x, y, kind, label, colour): kind "device" or an edge style
    title_y: int


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else ".." + s[-(n - 2):]


def _layers(n: int, links) -> list:
    """Longest-path layer of each box, after reversing DFS back edges."""
    succ = [[] for _ in range(n)]
    for link in links:
        succ[link.src].append(link.dst)
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    back = set()
    for root in range(n):
        if state[root]:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            v, it = stack[-1]
            for w in it:
                if state[w] == 1:
                    back.add((v, w))
                elif state[w] == 0:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
            else:
                state[v] = 2
                stack.pop()
    dag_succ = [[] for _ in range(n)]
    indeg = [0] * n
    for v in range(n):
        for w in succ[v]:
            a, b = (w, v) if (v, w) in back else (v, w)
            dag_succ[a].append(b)
            indeg[b] += 1
    layer = [0] * n
    queue = collections.deque(v for v in range(n) if indeg[v] == 0)
    sources = list(queue)
    while queue:
        v = queue.popleft()
        for w in dag_succ[v]:
            layer[w] = max(layer[w], layer[v] + 1)
            indeg[w] -= 1
            if indeg[w] == 0:
                queue.append(w)
    for v in sources:  # pull sources down to just above their first consumer
        if dag_succ[v]:
            layer[v] = max(0, min(layer[w] for w in dag_succ[v]) - 1)
    return layer


def _order(layers_of: list, links, sweeps: int = 4) -> list:
    """Boxes per layer, ordered by a few barycenter sweeps."""
    depth = max(layers_of, default=-1) + 1
    rows = [[] for _ in range(depth)]
    for v, lay in enumerate(layers_of):
        rows[lay].append(v)
    nbrs = collections.defaultdict(list)
    for link in links:
        nbrs[link.src].append(link.dst)
        nbrs[link.dst].append(link.src)
    for sweep in range(sweeps):
        pos = {v: i for row in rows for i, v in enumerate(row)}
        seq = range(1, depth) if sweep % 2 == 0 else range(depth - 2, -1, -1)
        for lay in seq:
            ref = lay - 1 if sweep % 2 == 0 else lay + 1

            def centre(v, ref=ref, pos=pos):
                near = [pos[w] for w in nbrs[v] if layers_of[w] == ref]
                return sum(near) / len(near) if near else pos[v]

            rows[lay].sort(key=centre)
            pos.update({v: i for i, v in enumerate(rows[lay])})
    return rows


def layout(pic: Picture, char_w: float, line_h: int, pad: int = 5, hgap: int = 14,
           vgap: int = 34, max_label: int = 30, max_row_width: int = 2400,
           margin: int = 16) -> Layout:
    """Box positions for a renderer whose text is ``char_w`` wide and ``line_h`` high."""
    sizes = [(int(2 * pad + char_w * max(max(len(s) for s in b.lines(max_label)), 4)),
              2 * pad + len(b.lines(max_label)) * line_h) for b in pic.boxes]
    # legend: title line, then device swatches and edge styles, wrapped
    legend = []
    x, y = margin, margin + line_h + 8
    entries = [("device", d, c) for d, c in pic.colours.items()] + [
        ("cross", "cross-device edge", CROSS_COLOUR), ("data", "data edge", DATA_COLOUR),
        ("control", "control edge", CONTROL_COLOUR)]
    legend_w = 0
    for kind, label, colour in entries:
        w = int(28 + char_w * len(label) + 18)
        if x + w > max_row_width and x > margin:
            x, y = margin, y + line_h + 8
        legend.append((x, y, kind, label, colour))
        x += w
        legend_w = max(legend_w, x - margin)
    top = y + line_h + 24
    rows = []
    for layer in _order(_layers(len(pic.boxes), pic.links), pic.links):
        row, width = [], 0
        for v in layer:
            w = sizes[v][0]
            if row and width + hgap + w > max_row_width:
                rows.append((row, width))
                row, width = [], 0
            width += (hgap if row else 0) + w
            row.append(v)
        if row:
            rows.append((row, width))
    widest = max([w for _, w in rows] + [legend_w, int(char_w * (len(_heading(pic)) + 2))])
    pos = [None] * len(pic.boxes)
    y = top
    for row, width in rows:
        x = margin + (widest - width) // 2
        h = max(sizes[v][1] for v in row)
        for v in row:
            pos[v] = (x, y, sizes[v][0], sizes[v][1])
            x += sizes[v][0] + hgap
        y += h + vgap
    return Layout(widest + 2 * margin, y - vgap + margin, pos, legend, margin)


def _ends(lay: Layout, link: Link) -> tuple:
    x0, y0, w0, h0 = lay.boxes[link.src]
    x1, y1, w1, h1 = lay.boxes[link.dst]
    if y1 >= y0 + h0:  # downwards
        return x0 + w0 // 2, y0 + h0, x1 + w1 // 2, y1
    return x0 + w0 // 2, y0, x1 + w1 // 2, y1 + h1


def _style(link: Link) -> tuple:
    """(colour, width, dash) of a link."""
    if link.cross:
        return CROSS_COLOUR, 2, (6, 4)
    if link.control:
        return CONTROL_COLOUR, 1, (2, 3)
    return DATA_COLOUR, 1, ()


def _heading(pic: Picture) -> str:
    what = {"node": "one box per node", "scope": "one box per top-level name scope",
            "scope-family": "one box per family of top-level scopes"}[pic.level]
    return f"{pic.title}  ({pic.nodes} nodes; {what}; colour = assigned device)".strip()


# -- renderers -------------------------------------------------------------------------------------
def to_dot(pic: Picture) -> str:
    """Graphviz DOT: boxes filled with their device's colour, cross-device edges red/dashed,
    a legend cluster naming the colours."""

    def q(s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    out = ["digraph gmeta {",
           f"  graph [rankdir=TB, fontname=Helvetica, labelloc=t, label={q(_heading(pic))}];",
           "  node [shape=box, style=\"filled,rounded\", fontname=Helvetica, fontsize=10];",
           "  edge [arrowsize=0.6];"]
    for i, b in enumerate(pic.boxes):
        colour = pic.colours.get(b.device, UNPLACED)
        label = "\n".join([b.title, b.subtitle] + ([b.extra] if b.extra else []))
        out.append(f"  n{i} [label={q(label)}, fillcolor=\"{colour}\", "
                   f"tooltip={q(b.tooltip)}];")
    for link in pic.links:
        colour, width, dash = _style(link)
        attrs = [f"color=\"{colour}\""]
        if dash:
            attrs.append("style=" + ("dashed" if link.cross else "dotted"))
        if width > 1:
            attrs.append(f"penwidth={width}")
        if link.count > 1:
            attrs.append(f"label=\"{link.count}\"")
        out.append(f"  n{link.src} -> n{link.dst} [{', '.join(attrs)}];")
    out.append("  subgraph cluster_legend {")
    out.append("    label=\"devices\"; fontname=Helvetica;")
    for i, (device, colour) in enumerate(pic.colours.items()):
        out.append(f"    legend{i} [label={q(device)}, fillcolor=\"{colour}\"];")
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def to_svg(pic: Picture) -> str:
    """A standalone SVG of the layered layout (11 px monospace labels, tooltips per box)."""
    char_w, line_h = 6.7, 13
    lay = layout(pic, char_w, line_h)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width}" height="{lay.height}" '
           f'viewBox="0 0 {lay.width} {lay.height}" font-family="monospace" font-size="11">',
           "<defs>"]
    for name, colour in (("data", DATA_COLOUR), ("cross", CROSS_COLOUR),
                         ("control", CONTROL_COLOUR)):
        out.append(f'<marker id="arrow-{name}" viewBox="0 0 8 8" refX="8" refY="4" '
                   f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                   f'<path d="M0,0 L8,4 L0,8 z" fill="{colour}"/></marker>')
    out.append("</defs>")
    out.append(f'<rect width="{lay.width}" height="{lay.height}" fill="white"/>')
    out.append(f'<text x="16" y="{lay.title_y + line_h - 2}" font-size="13" '
               f'font-weight="bold">{escape(_heading(pic))}</text>')
    for x, y, kind, label, colour in lay.legend:
        if kind == "device":
            out.append(f'<rect x="{x}" y="{y}" width="22" height="{line_h}" fill="{colour}" '
                       f'stroke="{BORDER}"/>')
        else:
            dash = {"cross": ' stroke-dasharray="6,4" stroke-width="2"',
                    "control": ' stroke-dasharray="2,3"', "data": ""}[kind]
            out.append(f'<line x1="{x}" y1="{y + line_h // 2}" x2="{x + 22}" '
                       f'y2="{y + line_h // 2}" stroke="{colour}"{dash}/>')
        out.append(f'<text x="{x + 28}" y="{y + line_h - 2}">{escape(label)}</text>')
    out.append('<g class="edges" fill="none">')
    for link in pic.links:
        x0, y0, x1, y1 = _ends(lay, link)
        colour, width, dash = _style(link)
        kind = "cross" if link.cross else "control" if link.control else "data"
        extra = f' stroke-dasharray="{dash[0]},{dash[1]}"' if dash else ""
        tip = f"<title>{link.count} edges</title>" if link.count > 1 else ""
        out.append(f'<line class="{kind}" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" '
                   f'stroke="{colour}" stroke-width="{width}"{extra} '
                   f'marker-end="url(#arrow-{kind})">{tip}</line>')
    out.append("</g>")
    out.append('<g class="nodes">')
    for b, (x, y, w, h) in zip(pic.boxes, lay.boxes):
        colour = pic.colours.get(b.device, UNPLACED)
        out.append(f"<g><title>{escape(b.tooltip)}</title>")
        out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{colour}" '
                   f'stroke="{BORDER}" data-device={quoteattr(b.device)}/>')
        out.extend(_stripe_svg(pic, b, x, y, w, h))
        for n, text in enumerate(b.lines()):
            fill = "" if n == 0 else ' fill="#333333"'
            out.append(f'<text x="{x + 5}" y="{y + 5 + (n + 1) * line_h - 3}"{fill}>'
                       f"{escape(text)}</text>")
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def _stripe_svg(pic, b, x, y, w, h) -> list:
    """For a box over several devices: a bottom stripe with each device's share."""
    if len(b.devices) < 2:
        return []
    total = sum(b.devices.values())
    out, left = [], x + 1
    for device, n in sorted(b.devices.items(), key=lambda kv: _device_key(kv[0])):
        seg = (w - 2) * n / total
        out.append(f'<rect x="{left:.1f}" y="{y + h - 5}" width="{seg:.1f}" height="4" '
                   f'fill="{pic.colours[device]}" stroke="none"/>')
        left += seg
    return out


def _rgb(hex_colour: str) -> tuple:
    h = hex_colour.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def to_png(pic: Picture, max_side: int = 8000) -> bytes:
    """The same layout drawn on a PNG canvas, labels in a 5x7 pixel font (upper case)."""
    from gmeta._png import GLYPH_H, GLYPH_W, Canvas

    line_h = GLYPH_H + 4
    lay = layout(pic, GLYPH_W + 1, line_h, max_row_width=min(2400, max_side - 40))
    if lay.width > max_side or lay.height > max_side:
        raise ValueError(f"the picture would be {lay.width}x{lay.height} pixels, over "
                         f"{max_side}; use --level scope or an .svg/.dot output")
    c = Canvas(lay.width, lay.height)
    border = _rgb(BORDER)
    c.text(16, lay.title_y, _heading(pic), border)
    for x, y, kind, label, colour in lay.legend:
        if kind == "device":
            c.rect(x, y, x + 22, y + line_h, _rgb(colour))
            c.outline(x, y, x + 22, y + line_h, border)
        else:
            style = _style(Link(0, 0, kind == "cross", kind == "control"))
            c.line(x, y + line_h // 2, x + 22, y + line_h // 2, _rgb(style[0]), style[1],
                   style[2])
        c.text(x + 28, y + 2, label, border)
    for link in sorted(pic.links, key=lambda lk: lk.cross):  # cross-device edges on top
        x0, y0, x1, y1 = _ends(lay, link)
        colour, width, dash = _style(link)
        c.line(x0, y0, x1, y1, _rgb(colour), width, dash)
        d = 1 if y1 > y0 else -1  # arrow head at the consumer
        c.line(x1, y1, x1 - 3, y1 - 5 * d, _rgb(colour), width)
        c.line(x1, y1, x1 + 3, y1 - 5 * d, _rgb(colour), width)
    for b, (x, y, w, h) in zip(pic.boxes, lay.boxes):
        c.rect(x, y, x + w, y + h, _rgb(pic.colours.get(b.device, UNPLACED)))
        c.outline(x, y, x + w, y + h, border)
        if len(b.devices) > 1:
            total, left = sum(b.devices.values()), x + 1
            for device, n in sorted(b.devices.items(), key=lambda kv: _device_key(kv[0])):
                seg = (w - 2) * n / total
                c.rect(int(left), y + h - 5, int(left + seg), y + h - 1,
                       _rgb(pic.colours[device]))
                left += seg
        for n, text in enumerate(b.lines()):
            c.text(x + 5, y + 5 + n * line_h, text, (0, 0, 0) if n == 0 else (70, 70, 70))
    return c.png()
