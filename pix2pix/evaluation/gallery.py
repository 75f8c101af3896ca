"""Galleries: PNG grids of images side by side with captions, and an HTML page for each."""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from pix2pix._drawing import fit_text, font
from pix2pix.inference.images import to_display


@dataclass
class GalleryRow:
    """One row of a gallery: images side by side, with a name and a caption under them.

    Attributes:
        name: What the row shows (a file name); written before the caption.
        images: ``[C, H, W]`` tensors in [-1, 1], one per column (sizes may differ).
        caption: Extra text, e.g. the row's metrics.

    Examples:
        >>> row = GalleryRow("1.jpg", [torch.zeros(3, 8, 8)] * 3, "L1 0.10")
    """

    name: str
    images: Sequence[torch.Tensor]
    caption: str = ""


def _tile(image: torch.Tensor) -> Image.Image:
    array = to_display(image.unsqueeze(0))[0].mul(255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array, mode="RGB")


def write_gallery(
    rows: Sequence[GalleryRow],
    path_png: str | os.PathLike[str],
    path_html: str | os.PathLike[str] | None = None,
    *,
    columns: Sequence[str] = ("source", "output", "target"),
    title: str = "pix2pix gallery",
    notes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write a PNG grid of ``rows`` with column labels and captions, and an HTML page for it.

    Each cell is as large as the largest image; smaller images sit at its top-left corner.
    Gray images show as gray, extra channels (alpha) are not shown. The HTML page is
    self-contained apart from the PNG, which it references by a relative path; it lists each
    row's name and caption and the ``notes`` (e.g. the evaluation mode).

    Args:
        rows: The rows, each with one image per entry of ``columns``.
        path_png: Where to write the grid.
        path_html: Where to write the page (``None``: no page).
        columns: The column labels.
        title: Title of the page.
        notes: Lines shown on the page above the grid.

    Returns:
        ``{"png": path}``, plus ``"html"`` when a page was written.

    Raises:
        ValueError: If there are no rows or a row's image count differs from ``columns``.

    Examples:
        >>> x = torch.zeros(3, 16, 16)
        >>> write_gallery([GalleryRow("a", [x, x, x])], "/tmp/g.png")  # doctest: +SKIP
        {'png': PosixPath('/tmp/g.png')}
    """
    if not rows:
        raise ValueError("write_gallery needs at least one row; got none.")
    for row in rows:
        if len(row.images) != len(columns):
            raise ValueError(
                f"Gallery row {row.name!r} has {len(row.images)} image(s) but there are "
                f"{len(columns)} columns {tuple(columns)}; give one image per column."
            )
    tiles = [[_tile(image) for image in row.images] for row in rows]
    cell_w = max(tile.width for row in tiles for tile in row)
    cell_h = max(tile.height for row in tiles for tile in row)
    pad, header, caption_h = 2, 14, 13
    width = len(columns) * (cell_w + pad) + pad
    row_h = cell_h + caption_h + pad
    canvas = Image.new("RGB", (width, header + len(rows) * row_h + pad), "white")
    draw = ImageDraw.Draw(canvas)
    typeface = font(11)
    for j, label in enumerate(columns):
        x = pad + j * (cell_w + pad)
        draw.text(
            (x + 2, 1), fit_text(draw, label, cell_w - 4, typeface), fill="black", font=typeface
        )
    for i, (row, row_tiles) in enumerate(zip(rows, tiles)):
        y = header + i * row_h
        for j, tile in enumerate(row_tiles):
            canvas.paste(tile, (pad + j * (cell_w + pad), y))
        text = f"{row.name}  {row.caption}".strip()
        draw.text(
            (pad + 2, y + cell_h),
            fit_text(draw, text, width - 8, typeface),
            fill="black",
            font=typeface,
        )
    path_png = Path(path_png)
    path_png.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path_png)
    written = {"png": path_png}
    if path_html is not None:
        path_html = Path(path_html)
        path_html.parent.mkdir(parents=True, exist_ok=True)
        source = os.path.relpath(path_png, path_html.parent)
        items = "\n".join(
            f"<tr><td>{i}</td><td>{html.escape(row.name)}</td><td>{html.escape(row.caption)}"
            "</td></tr>"
            for i, row in enumerate(rows)
        )
        paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in notes)
        path_html.write_text(
            "<!doctype html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>\n<style>body{{font-family:sans-serif}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "</style></head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n{paragraphs}\n"
            f"<p>Columns: {html.escape(' | '.join(columns))}</p>\n"
            f"<img src='{html.escape(source)}' alt='{html.escape(title)}'>\n"
            f"<table><tr><th>row</th><th>name</th><th>caption</th></tr>\n{items}\n</table>\n"
            "</body></html>\n"
        )
        written["html"] = path_html
    return written


# ---------------------------------------------------------------- every pair: files and a page
#: Metrics where a higher value is better; every other metric is better lower. "Worst first"
#: sorts the page by the worst value of the chosen metric first.
HIGHER_IS_BETTER = {"psnr", "ssim"}
#: Suffixes of the canonical pix2pix result layout (``images/NAME_real_A.png`` ...).
PAIR_SUFFIXES = ("real_A", "fake_B", "real_B")
PAGE_SIZE = 50


def pair_stem(name: str, seen: set[str]) -> str:
    """A file-system-safe, unique stem for the pair named ``name`` (a file name)."""
    stem = Path(name).stem or "pair"
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    unique, n = stem, 1
    while unique in seen:
        n += 1
        unique = f"{stem}-{n}"
    seen.add(unique)
    return unique


def save_pair_images(
    folder: str | os.PathLike[str],
    stem: str,
    source: torch.Tensor,
    output: torch.Tensor,
    target: torch.Tensor,
) -> dict[str, str]:
    """Write ``STEM_real_A.png``, ``STEM_fake_B.png``, ``STEM_real_B.png`` (``[C, H, W]`` in
    [-1, 1]) into ``folder``; returns ``{"real_A": file name, ...}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for suffix, image in zip(PAIR_SUFFIXES, (source, output, target)):
        name = f"{stem}_{suffix}.png"
        pixels = to_display(image.unsqueeze(0))[0].mul(255).round().byte().permute(1, 2, 0)
        array = pixels.cpu().numpy()
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array[..., :3]).save(
            folder / name
        )
        names[suffix] = name
    return names


def load_pair_images(folder: str | os.PathLike[str], files: dict[str, str]) -> list[torch.Tensor]:
    """The three images written by :func:`save_pair_images`, as ``[C, H, W]`` in [-1, 1]."""
    tensors = []
    for suffix in PAIR_SUFFIXES:
        with Image.open(Path(folder) / files[suffix]) as image:
            array = torch.from_numpy(
                np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image).copy()
            )
        array = array.unsqueeze(-1) if array.dim() == 2 else array
        tensors.append(array.permute(2, 0, 1).float().div(127.5).sub(1.0))
    return tensors


def pick_spread(values: Sequence[float], count: int, higher_is_better: bool = False) -> list[int]:
    """Indices of ``count`` items spread from best to worst of ``values`` (best first).

    The best, the median and the worst are always among them when ``count >= 3``; NaN values
    are never picked before finite ones.

    Examples:
        >>> pick_spread([0.5, 0.1, 0.9, 0.3, 0.7], 3)
        [1, 0, 2]
    """
    finite = [i for i, v in enumerate(values) if v == v]
    order = sorted(finite, key=lambda i: values[i], reverse=higher_is_better)
    order += [i for i in range(len(values)) if i not in set(finite)]
    n = len(order)
    if count >= n:
        return order
    if count == 1:
        return [order[(n - 1) // 2]]
    positions = sorted({round(k * (n - 1) / (count - 1)) for k in range(count)})
    median = (n - 1) // 2
    if count >= 3 and median not in positions:  # the median always shows
        nearest = min(positions[1:-1], key=lambda p: abs(p - median))
        positions = sorted({*positions, median} - {nearest})
    return [order[p] for p in positions]


def rank_label(position: int, count: int) -> str:
    """``"best"``, ``"median"``, ``"worst"`` or ``"#k of n"`` for a 0-based rank."""
    if position == 0:
        return "best"
    if position == count - 1:
        return "worst"
    if position == (count - 1) // 2:
        return "median"
    return f"#{position + 1} of {count}"


def write_pairs_page(
    path: str | os.PathLike[str],
    pairs: Sequence[dict[str, Any]],
    *,
    images_dir: str = "images",
    title: str = "pix2pix results",
    notes: Sequence[str] = (),
    sort: str | None = None,
    worst_first: bool = False,
    page_size: int = PAGE_SIZE,
) -> Path:
    """An HTML page of every pair: source | output | target and each metric, paged and sortable.

    Self-contained apart from the images (relative links into ``images_dir``); sorting and
    paging run in the page's own script (no network). Every pair is in the HTML, one
    ``<tr data-name=... data-l1=...>`` each; without JavaScript all rows show.

    Args:
        path: Where to write the page.
        pairs: ``{"name", "files": {"real_A": ..., "fake_B": ..., "real_B": ...}, "metrics":
            {name: value}}`` for every pair.
        images_dir: The images' folder, relative to the page.
        title: Title of the page.
        notes: Lines shown above the table.
        sort: The metric to sort by first (``None``: in data order).
        worst_first: Sort by ``sort``'s worst values first (highest L1, lowest PSNR...).
        page_size: Rows per page.

    Returns:
        ``path``.

    Examples:
        >>> pairs = [{"name": "1.jpg", "files": {"real_A": "1_real_A.png", "fake_B":
        ...     "1_fake_B.png", "real_B": "1_real_B.png"}, "metrics": {"l1": 0.2}}]
        >>> write_pairs_page("/tmp/index.html", pairs, sort="l1")  # doctest: +SKIP
    """
    path = Path(path)
    keys = list(dict.fromkeys(k for pair in pairs for k in pair.get("metrics", {})))
    if sort is not None and sort not in keys:
        raise ValueError(f"sort={sort!r} is not a metric of these pairs; choose from {keys}.")
    order = list(range(len(pairs)))
    if sort is not None:
        high = sort in HIGHER_IS_BETTER

        def key(i: int) -> tuple[bool, float]:
            value = pairs[i]["metrics"].get(sort)
            missing = not isinstance(value, (int, float)) or value != value
            number = 0.0 if missing else float(value)
            # worst first: the high values of a lower-is-better metric lead, and vice versa
            descending = high != worst_first
            return (missing, -number if descending else number)

        order.sort(key=key)
    esc = html.escape
    header = "".join(
        f"<th><button type='button' data-sort='{esc(k)}' "
        f"data-higher-better='{int(k in HIGHER_IS_BETTER)}'>{esc(k)}</button></th>"
        for k in keys
    )
    body = []
    for rank, i in enumerate(order):
        pair = pairs[i]
        metrics = pair.get("metrics", {})
        attrs = "".join(
            f" data-{esc(k.replace('/', '-'))}='{_attr_number(metrics.get(k))}'" for k in keys
        )
        cells = "".join(
            f"<td><img loading='lazy' src='{esc(images_dir)}/{esc(pair['files'][s])}' "
            f"alt='{esc(pair['name'])} {s}'></td>"
            for s in PAIR_SUFFIXES
        )
        numbers = "".join(f"<td>{_shown_number(metrics.get(k))}</td>" for k in keys)
        body.append(
            f"<tr data-name='{esc(pair['name'])}' data-index='{rank}'{attrs}>"
            f"<td>{esc(pair['name'])}</td>{cells}{numbers}</tr>"
        )
    paragraphs = "".join(f"<p>{esc(line)}</p>" for line in notes)
    initial = {"key": sort, "worst": worst_first, "pageSize": max(1, int(page_size))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title>\n<style>{_PAGE_CSS}</style></head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{paragraphs}\n"
        f"<p>{len(pairs)} pairs. Click a metric to sort by it (again to reverse); "
        "<label><input type='checkbox' id='worst'> worst first</label>.</p>\n"
        "<nav id='pager'></nav>\n"
        "<table id='pairs'><thead><tr><th><button type='button' data-sort='name'>name</button>"
        f"</th><th>source</th><th>output</th><th>target</th>{header}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>\n"
        f"<script>const INITIAL = {json.dumps(initial)};\n{_PAGE_JS}</script>\n"
        "</body></html>\n"
    )
    return path


def _attr_number(value: Any) -> str:
    if isinstance(value, (int, float)) and value == value:
        return repr(float(value))
    return ""


def _shown_number(value: Any) -> str:
    if isinstance(value, (int, float)) and value == value:
        return f"{value:.4g}"
    return "n/a"


_PAGE_CSS = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:center}"
    "td img{max-width:256px;min-width:96px;image-rendering:pixelated;display:block}"
    "th button{font:inherit;font-weight:bold;cursor:pointer;border:0;background:none}"
    "th button.active{text-decoration:underline}#pager button{margin:0 2px}"
    "#pager button.current{font-weight:bold}"
)
# sorting and paging, no libraries: rows carry their metrics as data-* attributes
_PAGE_JS = """
(function () {
  const body = document.querySelector('#pairs tbody');
  const rows = Array.from(body.rows);
  const pager = document.getElementById('pager');
  const worstBox = document.getElementById('worst');
  const state = {key: INITIAL.key, descending: false, page: 0, size: INITIAL.pageSize};
  function attr(key) { return key === 'name' ? 'name' : key.replace(/\\//g, '-'); }
  function higherBetter(key) {
    const b = document.querySelector("th button[data-sort='" + key + "']");
    return b && b.dataset.higherBetter === '1';
  }
  function direction(key, worst) { return higherBetter(key) !== worst; }
  function sortRows() {
    if (!state.key) return;
    const a = attr(state.key);
    const sign = state.descending ? -1 : 1;
    rows.sort(function (x, y) {
      const u = x.dataset[a], v = y.dataset[a];
      if (state.key === 'name') return sign * u.localeCompare(v, undefined, {numeric: true});
      if (u === '' || v === '') return (u === '') - (v === '');
      return sign * (parseFloat(u) - parseFloat(v));
    });
    rows.forEach(function (r) { body.appendChild(r); });
    document.querySelectorAll('th button').forEach(function (b) {
      b.classList.toggle('active', b.dataset.sort === state.key);
    });
  }
  function show() {
    const pages = Math.max(1, Math.ceil(rows.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    rows.forEach(function (r, i) {
      r.hidden = Math.floor(i / state.size) !== state.page;
    });
    pager.textContent = '';
    if (pages === 1) return;
    for (let p = 0; p < pages; p++) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = String(p + 1);
      if (p === state.page) b.className = 'current';
      b.onclick = function () { state.page = p; show(); };
      pager.appendChild(b);
    }
  }
  document.querySelectorAll('th button').forEach(function (b) {
    b.onclick = function () {
      const key = b.dataset.sort;
      if (state.key === key) state.descending = !state.descending;
      else {
        state.key = key;
        state.descending = key !== 'name' && direction(key, worstBox.checked);
      }
      state.page = 0; sortRows(); show();
    };
  });
  worstBox.onchange = function () {
    if (state.key && state.key !== 'name') {
      state.descending = direction(state.key, worstBox.checked);
    }
    state.page = 0; sortRows(); show();
  };
  worstBox.checked = INITIAL.worst;
  if (state.key) state.descending = direction(state.key, INITIAL.worst);
  sortRows(); show();
})();
"""


def gallery_rows(
    per_image: Sequence[dict[str, Any]],
    files: Sequence[dict[str, str]],
    folder: str | os.PathLike[str],
    count: int,
    *,
    names: Sequence[str] | None = None,
    metric: str = "l1",
) -> list[GalleryRow]:
    """The rows of an evaluation's gallery, read back from the pair images in ``folder``.

    Without ``names``: ``count`` pairs spread over the ``metric`` ranking (best first, the
    median and the worst among them), each captioned with its rank. With ``names``: those
    pairs in that order, so galleries of several models show the same pairs.

    Raises:
        ValueError: If a name in ``names`` is not one of the pairs.
    """
    if names is not None:
        where = {entry["name"]: i for i, entry in enumerate(per_image)}
        missing = [name for name in names if name not in where]
        if missing:
            raise ValueError(
                f"gallery_names {missing} are not pairs of this test set; pass names from a "
                "previous result's 'gallery' list on the same data."
            )
        picked, labels = [where[name] for name in names], ["" for _ in names]
    else:
        values = [_number_or_nan(entry.get(metric)) for entry in per_image]
        high = metric in HIGHER_IS_BETTER
        picked = pick_spread(values, count, high)
        finite = sorted(
            (i for i, v in enumerate(values) if v == v), key=lambda i: values[i], reverse=high
        )
        rank = {i: k for k, i in enumerate(finite)}
        labels = [
            f"{rank_label(rank[i], len(finite))} {metric}" if i in rank else "" for i in picked
        ]
    rows = []
    for i, label in zip(picked, labels):
        entry = per_image[i]
        parts = [label] if label else []
        for key, text in (("l1", "L1 {:.3f}"), ("psnr", "PSNR {:.2f} dB"), ("ssim", "SSIM {:.3f}")):
            value = _number_or_nan(entry.get(key))
            if value == value:
                parts.append(text.format(value))
        rows.append(GalleryRow(entry["name"], load_pair_images(folder, files[i]), "  ".join(parts)))
    return rows


def _number_or_nan(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan
