"""A short, aligned text summary of an evaluation result, for people (the JSON is for programs)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# key, label, digits, what is best; in the order a reader scans them
_ROWS: tuple[tuple[str, str, int, str], ...] = (
    ("l1", "L1", 4, "lower"),
    ("psnr", "PSNR (dB)", 2, "higher"),
    ("ssim", "SSIM", 4, "higher"),
    ("lpips", "LPIPS", 4, "lower"),
    ("sharpness", "sharpness", 3, "1"),
    ("hf_deficit_db", "HF deficit (dB)", 2, "0"),
    ("color_emd", "colour EMD", 2, "0"),
    ("checkerboard", "checkerboard (dB)", 2, "0"),
    ("fid", "FID", 2, "lower"),
    ("kid", "KID", 5, "lower"),
)
# where a metric's "not computed" reason is
_NOTES = {"ssim": None, "lpips": "lpips_note", "fid": "fid_note", "kid": "kid_note"}
# the files in the order they are listed, with what each is
_FILES = (
    ("metrics", "metrics (JSON)"),
    ("png", "gallery"),
    ("html", "gallery page"),
    ("pairs", "page of every pair"),
    ("images", "every pair's images"),
)


def _number(value: float, digits: int) -> str:
    return str(value) if not math.isfinite(value) else f"{value:.{digits}f}"


def _model_name(result: Mapping[str, Any]) -> str:
    model = result.get("model") or {}
    return str(model.get("path") or model.get("class") or "the model")


def format_summary(result: Mapping[str, Any], per_image: bool = False) -> str:
    """``result`` of :func:`~pix2pix.evaluation.evaluate` as a few aligned lines of text.

    What was evaluated and how (pairs, direction, mode), a table of every metric's mean ±
    standard deviation over images with its best value, why a metric was not computed, and
    the files written. With ``per_image``, a table of every pair's metrics follows.

    Examples:
        >>> result = {"count": 2, "mode": "deterministic", "mode_note": "eval mode",
        ...           "direction": "AtoB", "data": "test", "model": {"path": "model"},
        ...           "l1": 0.25, "l1_std": 0.01, "psnr": 14.5, "psnr_std": 1.25,
        ...           "fid": None, "fid_note": "not computed: no weights", "files": {}}
        >>> print(format_summary(result))
        model on test: 2 pairs, AtoB
        mode: deterministic (eval mode)
        <BLANKLINE>
          metric       mean ± std     best
          L1         0.2500 ± 0.0100  lower
          PSNR (dB)   14.50 ±   1.25  higher
          FID [1]         -           lower
        <BLANKLINE>
        [1] FID not computed: no weights
        <BLANKLINE>
        No files written.
    """
    time_s = result.get("time_s")
    lines = [
        f"{_model_name(result)} on {result.get('data')}: {result.get('count')} pairs, "
        f"{result.get('direction')}" + (f", {time_s:.1f} s" if time_s is not None else ""),
        f"mode: {result.get('mode')} ({result.get('mode_note')})",
        "",
    ]
    shown: list[tuple[str, str, str, str]] = []  # label, mean, std, best
    footnotes: dict[str, list[str]] = {}  # note -> labels of the metrics it explains
    for key, label, digits, best in _ROWS:
        if key not in result:
            continue
        value, std = result[key], result.get(f"{key}_std")
        if value is None:
            note_key = _NOTES.get(key)
            note = str(result.get(note_key) or "") if note_key else ""
            if note:
                footnotes.setdefault(note, []).append(label)
                label += f" [{list(footnotes).index(note) + 1}]"
            shown.append((label, "-", "", best))
        else:
            spread = _number(float(std), digits) if isinstance(std, (int, float)) else ""
            shown.append((label, _number(float(value), digits), spread, best))
    # mean and std right-aligned about the "±", so the columns read down
    mean_width = max(len(row[1]) for row in shown)
    std_width = max(len(row[2]) for row in shown)
    rows = [("metric", f"{'mean':>{mean_width}} ± {'std':<{std_width}}", "best")]
    for label, mean, spread, best in shown:
        cell = f"{mean:>{mean_width}}" + (f" ± {spread:>{std_width}}" if spread else "")
        rows.append((label, cell, best))
    lines += _table(rows)
    if footnotes:
        lines.append("")
        for number, (note, labels) in enumerate(footnotes.items(), 1):
            reason = note.removeprefix("not computed: ")
            lines.append(f"[{number}] {', '.join(labels)} not computed: {reason}")
    if per_image and result.get("per_image"):
        lines += ["", *_per_image_table(result["per_image"])]
    lines.append("")
    files = result.get("files") or {}
    if files:
        width = max(len(what) for key, what in _FILES if key in files)
        lines.append("Wrote:")
        lines += [f"  {what:<{width}}  {files[key]}" for key, what in _FILES if key in files]
    else:
        lines.append("No files written.")
    return "\n".join(lines)


def _table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Rows of cells in columns two spaces apart, indented; ``right``: right-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    ]


def _per_image_table(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every pair's metrics, one row each, in the summary's metric order."""
    keys = [(k, label, d) for k, label, d, _ in _ROWS if any(k in e for e in entries)]
    rows = [("pair", *(label for _, label, _ in keys))]
    for entry in entries:
        cells = []
        for key, _, digits in keys:
            value = entry.get(key)
            cells.append("n/a" if value is None else _number(float(value), digits))
        rows.append((str(entry.get("name")), *cells))
    return _table(rows, right=range(1, len(rows[0])))
