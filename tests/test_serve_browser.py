"""``pix2pix serve`` in a real headless Chromium: draw on the page, see the translation.

Needs the serve extra, Playwright (``pip install playwright``; its own browser downloads are
not used) and a system Chromium (Debian: ``apt-get install chromium``); skips otherwise. Set
``PIX2PIX_CHROMIUM`` to the browser's path if it is not on ``PATH``, and
``PIX2PIX_SERVE_SCREENSHOT_DIR`` to keep the screenshots.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")
pytest.importorskip("playwright.sync_api")

import httpx
from playwright.sync_api import sync_playwright

from pix2pix import Translator
from pix2pix.data.synthetic import synthetic_palette as label_palette
from pix2pix.models import UNetGenerator
from pix2pix.serve import create_app
from pix2pix.serve.server import running_server


def _chromium() -> str | None:
    candidates = [os.environ.get("PIX2PIX_CHROMIUM")]
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")]
    return next((c for c in candidates if c and Path(c).exists()), None)


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
        except Exception as e:  # a browser that cannot start here (no display libs, ...)
            pytest.skip(f"Chromium does not start: {e}")
        yield browser
        browser.close()


def _model(folder: Path, **inference) -> Translator:
    generator = UNetGenerator(base_channels=8, num_downs=6)
    generator.save_pretrained(folder, inference={"crop_size": 64, **inference})
    return Translator.from_pretrained(folder, device="cpu")


def _screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PIX2PIX_SERVE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pixels(page, selector: str) -> np.ndarray:
    """The pixels of an ``<img>`` or ``<canvas>`` as the page holds them (HxWx4)."""
    url = page.evaluate(
        """(selector) => {
            const element = document.querySelector(selector);
            if (element instanceof HTMLCanvasElement) return element.toDataURL("image/png");
            const canvas = document.createElement("canvas");
            canvas.width = element.naturalWidth;
            canvas.height = element.naturalHeight;
            canvas.getContext("2d").drawImage(element, 0, 0);
            return canvas.toDataURL("image/png");
        }""",
        selector,
    )
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def _wait_for_result(page, after: int = 0) -> int:
    """Wait until the result of the drawing as it is now is shown; returns its number."""
    page.wait_for_function(
        "(after) => document.body.dataset.pending === 'false' "
        "&& Number(document.querySelector('#result').dataset.seq || 0) > after "
        "&& document.querySelector('#result').naturalWidth > 0",
        arg=after,
        timeout=30_000,
    )
    return int(page.get_attribute("#result", "data-seq") or 0)


def _stroke(page, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through ``points`` given in fractions of the canvas."""
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def _watch(page, errors: list[str]) -> None:
    """Collect the page's errors, console errors and failed requests (a missing favicon too)."""
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))


def test_label_map_model_draw_translate_download(browser, tmp_path):
    # recorded in the paper's test mode, as the official facades model is
    translator = _model(tmp_path / "labels", palette=label_palette(), test_mode="paper")
    errors: list[str] = []
    with running_server(create_app(translator, name="tiny-labels")) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        _watch(page, errors)
        page.goto(url)
        page.wait_for_selector("body[data-ready='true']")
        # a palette of the model's classes, with names
        swatches = page.locator(".swatch")
        assert swatches.count() == len(label_palette())
        assert "window" in swatches.all_inner_texts()[3]
        assert page.locator("#canvas").evaluate("c => [c.width, c.height]") == [64, 64]
        # the page opens on the model's test mode, seed 0
        assert page.input_value("#test-mode") == "paper" and page.input_value("#seed") == "0"

        # issue 27: the page opens on the first starter drawing, not an empty canvas
        seq = _wait_for_result(page)  # and translates it on load
        opened = _pixels(page, "#canvas")[..., :3]
        assert len({tuple(p) for p in opened.reshape(-1, 3)}) >= 3, "the canvas opens blank"
        starter = np.asarray(Image.open(io.BytesIO(httpx.get(url + "api/starters/0.png").content)))
        np.testing.assert_array_equal(opened, starter)
        assert page.is_disabled("#undo")  # the opening drawing is the first state
        window = label_palette()[3]["color"]
        swatches.nth(3).click()  # window
        page.fill("#size", "6")
        page.dispatch_event("#size", "input")
        _stroke(page, [(0.2, 0.3), (0.5, 0.3), (0.5, 0.6)])
        swatches.nth(4).click()  # door
        _stroke(page, [(0.7, 0.9), (0.7, 0.6)])
        seq = _wait_for_result(page, seq)

        drawing = _pixels(page, "#canvas")[..., :3]
        colours = {tuple(c["color"]) for c in label_palette()}
        # the strokes are in the class colours, with no antialiased in-between colours
        assert {tuple(p) for p in drawing.reshape(-1, 3)} <= colours
        assert (drawing == window).all(-1).sum() > (opened == window).all(-1).sum() + 20

        result = _pixels(page, "#result")
        assert result.shape == (64, 64, 4)
        assert result[..., :3].std() > 0.5, "the result is blank"
        # the page shows what the library makes of the drawing; up to float rounding, since an
        # aborted earlier request may have shared the model run (a micro-batch) with it
        expected = np.asarray(translator.translate(Image.fromarray(drawing))).astype(int)
        assert np.abs(result[..., :3].astype(int) - expected).max() <= 2

        assert "ms round trip" in page.inner_text("#latency")
        href = page.get_attribute("#download", "href")
        assert href and href.startswith("blob:")
        with page.expect_download() as download:
            page.click("#download")
        saved = tmp_path / "download.png"
        download.value.save_as(saved)
        assert Image.open(saved).size == (64, 64)

        # a starter drawing replaces the canvas and is translated
        page.wait_for_selector("[data-starter='0']")
        page.click("[data-starter='2']")
        seq = _wait_for_result(page, seq)
        other = _pixels(page, "#canvas")[..., :3]
        assert {tuple(p) for p in other.reshape(-1, 3)} <= colours
        page.click("#undo")
        np.testing.assert_array_equal(_pixels(page, "#canvas")[..., :3], drawing)

        # the eval mode on request: running statistics, no dropout; no seed to set
        seq = _wait_for_result(page, seq)
        page.select_option("#test-mode", "eval")
        seq = _wait_for_result(page, seq)
        assert page.is_disabled("#seed")
        expected = np.asarray(translator.translate(Image.fromarray(drawing), test_mode="eval"))
        assert np.abs(_pixels(page, "#result")[..., :3].astype(int) - expected).max() <= 2

        page.screenshot(path=str(_screenshot_dir(tmp_path) / "serve-labels.png"))
        assert page.inner_text("#status") == ""
    assert not errors, errors


def test_edge_model_pen_eraser_fill_clear(browser, tmp_path):
    translator = _model(tmp_path / "edges")
    errors: list[str] = []
    with running_server(create_app(translator, name="tiny-edges")) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        _watch(page, errors)
        page.goto(url)
        page.wait_for_selector("body[data-ready='true']")
        assert page.locator(".swatch").count() == 0
        assert page.is_visible("#colour")  # a free colour picker instead of a palette
        assert page.is_hidden("#starters-box")
        seq = _wait_for_result(page)
        # no starters for an edge model: it opens on a white canvas
        assert (_pixels(page, "#canvas")[..., :3] == 255).all()

        _stroke(page, [(0.1, 0.1), (0.9, 0.9)])  # a black pen line on white
        _stroke(page, [(0.1, 0.9), (0.9, 0.1)])
        seq = _wait_for_result(page, seq)
        drawn = _pixels(page, "#canvas")[..., :3]
        black = (drawn == 0).all(-1).sum()
        assert black > 40

        page.click("[data-tool='eraser']")
        page.fill("#size", "12")
        page.dispatch_event("#size", "input")
        _stroke(page, [(0.4, 0.4), (0.6, 0.6)])
        assert (_pixels(page, "#canvas")[..., :3] == 0).all(-1).sum() < black

        page.click("[data-tool='fill']")
        page.evaluate(
            "() => { const c = document.querySelector('#colour'); "
            "c.value = '#ff0000'; c.dispatchEvent(new Event('input')); }"
        )
        page.click("[data-tool='fill']")
        box = page.locator("#canvas").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + 0.05 * box["height"])
        filled = _pixels(page, "#canvas")[..., :3]
        assert (filled == (255, 0, 0)).all(-1).sum() > 200
        seq = _wait_for_result(page, seq)
        assert _pixels(page, "#result")[..., :3].std() > 0.5

        page.click("#clear")
        assert (_pixels(page, "#canvas")[..., :3] == 255).all()
        page.screenshot(path=str(_screenshot_dir(tmp_path) / "serve-edges.png"))
    assert not errors, errors
