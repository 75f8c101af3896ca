"""``pix2pix report RUN``: one self-contained HTML page about a training run.

The page holds inline SVG plots of every loss and validation metric over the steps (from
``metrics.jsonl``), the sample grids over time (embedded as data URIs, so the file can be mailed
or attached to an issue), the run's settings (``run_config.json``), the final metrics and the
best models kept (``best/best.json``). It
needs nothing beyond the standard library: no plotting package, no network.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pix2pix._files import atomic_write_text
from pix2pix.constants import (
    BEST_DIR,
    CONFIG_NAME,
    FINAL_DIR,
    REPORT_NAME,
    RUN_CONFIG_NAME,
    SAMPLES_DIR,
)
from pix2pix.trainer.loggers import JSONL_NAME
from pix2pix.trainer.metric_files import read_jsonl
from pix2pix.trainer.monitoring import BEST_INDEX

_STEP_FILE = re.compile(r"step-(\d+)\.png$")
# keys that are bookkeeping, not a curve worth a plot
_NOT_PLOTTED = ("step", "epoch", "window")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write one self-contained HTML page about a training run",
        description="Read a run folder (metrics.jsonl, samples/, run_config.json, best/) and "
        "write RUN/report.html: SVG plots of every loss and validation metric over the steps, "
        "the sample grids over time (embedded), the settings and the final metrics. The page "
        "needs no network and no TensorBoard.",
    )
    parser.add_argument("run", metavar="RUN", help="the run folder (the --output of train)")
    parser.add_argument(
        "--output", default=None, help="where to write the page (default: RUN/report.html)"
    )
    parser.add_argument(
        "--max-samples",
        type=int,
        default=12,
        help="sample grids shown, spread over the run, the last included (12; 0 = none)",
    )
    parser.add_argument(
        "--link-samples",
        action="store_true",
        help="link the sample grids by relative path instead of embedding them (a smaller "
        "page that must stay beside the run folder)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; print its path."""
    path = write_report(
        args.run,
        args.output,
        max_samples=args.max_samples,
        embed_samples=not args.link_samples,
    )
    print(path)
    return 0


# ---------------------------------------------------------------------------- reading
def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl``; a damaged line is skipped with a warning naming it."""
    return read_jsonl(run_dir / JSONL_NAME)


def metric_series(records: Sequence[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` of every numeric key, in the order keys first appear.

    A step logged twice (it cannot be, after a resume, but a hand-merged file might) keeps its
    last value.
    """
    series: dict[str, dict[int, float]] = {}
    for record in records:
        for key, value in record.items():
            if key in _NOT_PLOTTED or isinstance(value, bool):
                continue
            if isinstance(value, str):  # "inf" and "nan" are written as strings
                try:
                    value = float(value)
                except ValueError:
                    continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                series.setdefault(key, {})[record["step"]] = float(value)
    return {key: sorted(points.items()) for key, points in series.items()}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _samples(run_dir: Path, count: int) -> list[tuple[int, Path]]:
    found = []
    folder = run_dir / SAMPLES_DIR
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STEP_FILE.search(path.name)
            if match:
                found.append((int(match.group(1)), path))
    found.sort()
    if count <= 0 or not found:
        return []
    if len(found) <= count:
        return found
    if count == 1:
        return [found[-1]]
    picks = sorted({round(k * (len(found) - 1) / (count - 1)) for k in range(count)})
    return [found[i] for i in picks]


# ---------------------------------------------------------------------------- plots
def svg_plot(
    points: Sequence[tuple[int, float]], title: str, *, width: int = 420, height: int = 210
) -> str:
    """An inline SVG line plot of ``(step, value)`` points with labelled axes.

    Examples:
        >>> svg_plot([(1, 2.0), (2, 1.0)], "G_L1").startswith("<svg")
        True
    """
    left, right, top, bottom = 58, 12, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{html.escape(title)}'>",
        f"<text x='{left}' y='16' font-size='13' font-weight='bold'>{html.escape(title)}</text>",
        f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' "
        "stroke='#999'/>",
    ]
    for k in range(5):  # horizontal grid lines with their values
        value = y0 + (y1 - y0) * k / 4
        y = sy(value)
        parts.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>"
            f"<text x='{left - 4}' y='{y + 4:.1f}' font-size='10' text-anchor='end'>"
            f"{_tick(value, y1 - y0)}</text>"
        )
    for step in sorted({round(x0 + (x1 - x0) * k / 4) for k in range(5)}):  # whole steps
        x = sx(step)
        parts.append(
            f"<text x='{x:.1f}' y='{top + plot_h + 14}' font-size='10' text-anchor='middle'>"
            f"{step}</text>"
        )
    parts.append(
        f"<text x='{left + plot_w / 2:.0f}' y='{height - 4}' font-size='10' "
        "text-anchor='middle'>step</text>"
    )
    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts.append(f"<polyline fill='none' stroke='#1f77b4' stroke-width='1.5' points='{line}'/>")
    if len(points) <= 40:
        parts += [
            f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='2.5' fill='#1f77b4'>"
            f"<title>step {x}: {y:.6g}</title></circle>"
            for x, y in points
        ]
    parts.append("</svg>")
    return "".join(parts)


def _tick(value: float, span: float) -> str:
    """``value`` with as many digits as a quarter of ``span`` needs to tell ticks apart."""
    step = span / 4
    if value != 0 and (abs(value) >= 1e5 or (abs(value) < 1e-3 and step < 1e-3)):
        digits = max(2, math.ceil(math.log10(abs(value) / step)) + 1)
        return f"{value:.{min(digits, 8)}e}"
    decimals = max(0, math.ceil(-math.log10(step)) + 1) if step > 0 else 2
    text = f"{value:.{min(decimals, 10)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _group(key: str) -> str:
    if key.startswith("val/"):
        return "Validation metrics"
    if key[:2] in ("G_", "D_"):
        return "Losses"
    return "Other values"


# ---------------------------------------------------------------------------- the page
def write_report(
    run_dir: str | Path,
    output: str | Path | None = None,
    *,
    max_samples: int = 12,
    embed_samples: bool = True,
) -> Path:
    """Write the HTML report of the run in ``run_dir``; returns its path.

    Args:
        run_dir: The run folder (``TrainerConfig.output_dir``).
        output: The page (default ``run_dir/report.html``).
        max_samples: Sample grids shown, spread over the run with the last one included.
        embed_samples: Embed the grids as data URIs (a page that stands alone) rather than
            link them by relative path.

    Raises:
        FileNotFoundError: If ``run_dir`` is not a run folder.

    Examples:
        >>> write_report("runs/facades")  # doctest: +SKIP
        PosixPath('runs/facades/report.html')
    """
    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    config = _read_json(run_dir / RUN_CONFIG_NAME)
    if not run_dir.is_dir() or (not records and config is None):
        raise FileNotFoundError(
            f"{run_dir} is not a training run folder (no {JSONL_NAME} or {RUN_CONFIG_NAME}); "
            "pass the --output folder of pix2pix train."
        )
    output = Path(output) if output is not None else run_dir / REPORT_NAME
    output.parent.mkdir(parents=True, exist_ok=True)
    series = metric_series(records)
    esc = html.escape
    sections: list[str] = []

    # -- summary and final metrics
    last_step = max((r["step"] for r in records), default=0)
    final = run_dir / FINAL_DIR
    status = (
        f"finished: the model is in {esc(str(final))}"
        if (final / CONFIG_NAME).is_file()
        else "not finished (no final model yet)"
    )
    summary = [f"<li>Last logged step: {last_step}</li>", f"<li>Status: {status}</li>"]
    finals = {key: points[-1] for key, points in series.items()}
    rows = "".join(
        f"<tr><td>{esc(key)}</td><td>{value:.6g}</td><td>{step}</td></tr>"
        for key, (step, value) in finals.items()
    )
    sections.append(
        f"<h2>Summary</h2><ul>{''.join(summary)}</ul>"
        "<h3>Final values</h3><table><tr><th>metric</th><th>last value</th><th>at step</th></tr>"
        f"{rows}</table>"
    )
    best = _read_json(run_dir / BEST_DIR / BEST_INDEX)
    if isinstance(best, dict) and best.get("kept"):
        kept = "".join(
            f"<tr><td>{k + 1}</td><td>{esc(str(e.get('step')))}</td>"
            f"<td>{_number(e.get('value'))}</td><td>{esc(str(e.get('path')))}</td></tr>"
            for k, e in enumerate(best["kept"])
        )
        sections.append(
            f"<h3>Best models by {esc(str(best.get('metric')))} ({esc(str(best.get('mode')))})"
            "</h3><table><tr><th>rank</th><th>step</th><th>value</th><th>folder</th></tr>"
            f"{kept}</table>"
        )

    # -- plots, grouped
    groups: dict[str, list[str]] = {}
    for key, points in series.items():
        groups.setdefault(_group(key), []).append(svg_plot(points, key))
    for title in ("Losses", "Validation metrics", "Other values"):
        if title in groups:
            plots = "".join(f"<div class='plot'>{svg}</div>" for svg in groups[title])
            sections.append(f"<h2>{title}</h2><div class='plots'>{plots}</div>")
    if not series:
        sections.append("<h2>Curves</h2><p>No metrics logged yet.</p>")

    # -- samples over time
    samples = _samples(run_dir, max_samples)
    if samples:
        figures = []
        for step, path in samples:
            if embed_samples:
                source = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
            else:
                source = esc(Path(_relative(path, output.parent)).as_posix())
            figures.append(
                f"<figure><img src='{source}' alt='samples at step {step}'>"
                f"<figcaption>step {step}</figcaption></figure>"
            )
        sections.append(
            "<h2>Samples over time</h2><p>Each grid: source | generated | target.</p>"
            f"<div class='samples'>{''.join(figures)}</div>"
        )

    # -- settings
    if config is not None:
        sections.append(
            f"<h2>Settings</h2><pre>{esc(json.dumps(config, indent=2, default=str))}</pre>"
        )
    title = f"pix2pix run report: {run_dir.resolve().name}"
    page = (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n<p>{esc(str(run_dir))}</p>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    return atomic_write_text(output, page)


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else html.escape(str(value))


_CSS = (
    "body{font-family:sans-serif;margin:1em 2em;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
    ".plots{display:flex;flex-wrap:wrap;gap:8px}.plot{border:1px solid #eee}"
    ".samples{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}"
    "figure img{min-width:240px;max-width:420px;image-rendering:pixelated}"
    "figcaption{text-align:center;font-size:90%}pre{background:#f6f6f6;padding:8px;"
    "overflow:auto;max-height:30em}"
)
