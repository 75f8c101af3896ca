"""``evaluate(save_images=True)``: every pair on disk and on one paged, sortable page."""

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from PIL import Image

from pix2pix import UNetGenerator
from pix2pix.cli import main
from pix2pix.evaluation import evaluate
from pix2pix.evaluation.gallery import pick_spread, rank_label, write_pairs_page


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model") / "g"
    UNetGenerator(base_channels=4, num_downs=4).save_pretrained(folder)
    return folder


def make_pairs(folder, count, size=16):
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    for i in range(count):
        pixels = (torch.rand(size, 2 * size, 3, generator=g) * 255).byte().numpy()
        # a flat right half on some pairs, so the pairs' L1 differ widely
        if i % 3 == 0:
            pixels[:, size:] = 128
        Image.fromarray(pixels).save(folder / f"pair{i:03d}.png")
    return folder


class Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.buttons, self.images, self.scripts = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-name" in attrs:
            self.rows.append(attrs)
        elif tag == "button" and "data-sort" in attrs:
            self.buttons.append(attrs["data-sort"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "script":
            self.scripts += 1
            assert "src" not in attrs  # no CDN, no external script


def parse(path):
    parser = Rows()
    parser.feed(Path(path).read_text())
    return parser


def test_pick_spread_has_best_median_and_worst():
    values = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8]
    picked = pick_spread(values, 3)
    assert picked == [1, 2, 0]  # best 0.1, median 0.5, worst 0.9
    assert pick_spread(values, 10) == [1, 5, 3, 2, 4, 6, 0]
    assert pick_spread([20.0, 30.0, 25.0], 2, higher_is_better=True) == [1, 0]
    assert pick_spread([float("nan"), 0.2, 0.1], 3) == [2, 1, 0]
    assert [rank_label(i, 7) for i in (0, 3, 6, 1)] == ["best", "median", "worst", "#2 of 7"]


def test_save_images_writes_every_pair_and_a_sortable_page(model, tmp_path):
    data = make_pairs(tmp_path / "test", 7)
    out = tmp_path / "eval"
    result = evaluate(model, data, output_dir=out, save_images=True, sort="l1", worst_first=True,
                      num_gallery=3, device="cpu")  # fmt: skip
    names = [entry["name"] for entry in result["per_image"]]
    assert len(names) == 7
    stems = [Path(n).stem for n in names]
    expected = {f"{s}_{k}.png" for s in stems for k in ("real_A", "fake_B", "real_B")}
    assert {p.name for p in (out / "images").iterdir()} == expected
    with Image.open(out / "images" / f"{stems[0]}_fake_B.png") as image:
        assert image.size == (16, 16)
    page = parse(out / "index.html")
    assert sorted(row["data-name"] for row in page.rows) == sorted(names)  # every pair
    keys = [k for k in result["per_image"][0] if k != "name"]
    assert {"name", "l1", "psnr", "ssim"} <= set(page.buttons) and set(keys) <= set(page.buttons)
    for key in ("l1", "psnr", "ssim"):
        assert all(f"data-{key}" in row for row in page.rows)
    l1 = [float(row["data-l1"]) for row in page.rows]
    assert l1 == sorted(l1, reverse=True)  # worst first
    assert len(page.images) == 21 and all(src.startswith("images/") for src in page.images)
    assert page.scripts == 1
    assert result["files"]["pairs"] == str(out / "index.html")
    # the single model's gallery: best, median and worst L1, labelled
    by_l1 = sorted(result["per_image"], key=lambda e: e["l1"])
    assert result["gallery"] == [by_l1[0]["name"], by_l1[3]["name"], by_l1[-1]["name"]]
    gallery_page = (out / "gallery.html").read_text()
    assert "best l1" in gallery_page and "median l1" in gallery_page and "worst l1" in gallery_page
    with Image.open(out / "gallery.png") as image:
        assert image.height > 3 * 16
    # a comparison: another evaluation shows the same pairs in the same order
    other = evaluate(model, data, output_dir=tmp_path / "other", gallery_names=result["gallery"],
                     device="cpu")  # fmt: skip
    assert other["gallery"] == result["gallery"]
    assert not (tmp_path / "other/images").exists()  # the scratch images are gone
    assert [p.name for p in (tmp_path / "other").iterdir() if p.name.startswith(".")] == []
    with pytest.raises(ValueError, match="not pairs of this test set"):
        evaluate(model, data, output_dir=tmp_path / "x", gallery_names=["nope.png"], device="cpu")
    with pytest.raises(ValueError, match="set save_images"):
        evaluate(model, data, sort="l1")
    with pytest.raises(ValueError, match="sort='blurriness' is not a metric"):
        evaluate(model, data, output_dir=tmp_path / "y", save_images=True, sort="blurriness",
                 device="cpu")  # fmt: skip


def test_pages_of_fifty_rendered_in_chromium(model, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs chromium")
    data = make_pairs(tmp_path / "test", 60)
    out = tmp_path / "eval"
    main(["evaluate", "--model", str(model), "--data", str(data), "--output", str(out),
          "--save-images", "--worst-first", "--device", "cpu", "--no-progress"])  # fmt: skip
    page = out / "index.html"
    assert len(parse(page).rows) == 60
    dumped = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    rendered = Rows()
    rendered.feed(dumped)
    shown = [row for row in rendered.rows if "hidden" not in row]
    assert len(rendered.rows) == 60 and len(shown) == 50  # page 1 of 2
    l1 = [float(row["data-l1"]) for row in rendered.rows]
    assert l1 == sorted(l1, reverse=True)
    assert '<nav id="pager"><button' in dumped  # two page buttons
    shot = tmp_path / "page.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,700",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 1000


def test_cli_progress_bar_and_files(model, tmp_path, capsys):
    data = make_pairs(tmp_path / "test", 3)
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--output", str(out),
                 "--save-images", "--sort", "psnr", "--device", "cpu", "--json"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "evaluate" in captured.err and "3/3" in captured.err  # tqdm on stderr
    result = json.loads(captured.out)
    assert set(result["files"]) >= {"pairs", "images", "metrics", "png", "html"}
    psnr = [float(r["data-psnr"]) for r in parse(out / "index.html").rows]
    assert psnr == sorted(psnr, reverse=True)  # best first: highest PSNR
    again = tmp_path / "again"
    assert main(["evaluate", "--model", str(model), "--data", str(data), "--output", str(again),
                 "--gallery-from", str(out / "metrics.json"), "--device", "cpu",
                 "--no-progress", "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["gallery"] == result["gallery"]


def test_write_pairs_page_escapes_names(tmp_path):
    files = {"real_A": "a.png", "fake_B": "b.png", "real_B": "c.png"}
    pairs = [{"name": "<x>'.png", "files": files, "metrics": {"l1": 0.5, "val/odd": None}}]
    page = write_pairs_page(tmp_path / "p.html", pairs)
    text = page.read_text()
    assert "<x>" not in text and "&lt;x&gt;" in text
    assert parse(page).rows[0]["data-name"] == "<x>'.png"
