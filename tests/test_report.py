"""``pix2pix report RUN`` and the exported model card of a real tiny run."""

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from PIL import Image

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.cli import main
from pix2pix.cli.report import metric_series, svg_plot, write_report
from pix2pix.trainer import Trainer, TrainerConfig


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.svgs, self.titles, self.images, self.headings, self.pre = [], [], [], [], ""
        self._in, self._text = None, ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self.svgs.append(attrs.get("aria-label"))
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag in ("h2", "h3", "pre"):
            self._in, self._text = tag, ""

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if tag == self._in:
            if tag == "pre":
                self.pre = self._text
            else:
                self.headings.append(self._text)
            self._in = None


class ImageData(torch.utils.data.Dataset):
    """A folder-like dataset: items and a ``root``, as PairedImageDataset has."""

    def __init__(self, root, n, seed):
        self.root = Path(root)
        g = torch.Generator().manual_seed(seed)
        self.items = [
            {
                "source": torch.rand(3, 32, 32, generator=g) * 2 - 1,
                "target": torch.rand(3, 32, 32, generator=g) * 2 - 1,
            }
            for _ in range(n)
        ]
        self.config = {"direction": "BtoA", "preprocess": "none", "load_size": 32,
                       "crop_size": 32}  # fmt: skip

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    torch.manual_seed(0)
    config = TrainerConfig(
        epochs=3, epochs_decay=0, batch_size=2, device="cpu", output_dir=str(tmp / "run"),
        log_every=1, sample_every=2, val_every=2, checkpoint_every=0, progress_bar=False,
        keep_best=1, license="mit",
    )  # fmt: skip
    trainer = Trainer(
        UNetGenerator(base_channels=4, num_downs=5),
        PatchGANDiscriminator(base_channels=4, n_layers=2),
        config,
        ImageData(tmp / "facades" / "train", 4, 0),
        ImageData(tmp / "facades" / "val", 2, 1),
    )
    trainer.run_info = {"preset": "paper"}
    trainer.fit()
    return Path(config.output_dir)


def test_metric_series_and_svg_plot():
    records = [
        {"step": 1, "epoch": 0, "G_L1": 3.0, "note": "x"},
        {"step": 2, "epoch": 0, "G_L1": 2.0, "val/PSNR": "inf"},
        {"step": 2, "val/L1": 0.5},
    ]
    series = metric_series(records)
    assert series == {"G_L1": [(1, 3.0), (2, 2.0)], "val/L1": [(2, 0.5)]}
    svg = svg_plot(series["G_L1"], "G_L1")
    assert svg.startswith("<svg") and "polyline" in svg and "G_L1" in svg
    assert svg_plot([(5, 1.0)], "flat").count("<circle") == 1  # a single point still plots


def test_report_of_a_real_run(run, capsys):
    assert main(["report", str(run)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == run / "report.html"
    page = Page()
    page.feed(path.read_text())
    keys = {key for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            for key in r} - {"step", "epoch", "window"}  # fmt: skip
    assert set(page.svgs) == keys  # every loss and metric has a plot (not the window sizes)
    assert {"G_L1", "G_GAN", "D_real", "D_fake", "val/L1", "val/PSNR", "lr"} <= set(page.svgs)
    assert {"Summary", "Losses", "Validation metrics", "Samples over time", "Settings"} <= set(
        page.headings
    )
    assert any(h.startswith("Best models by val/L1") for h in page.headings)
    samples = sorted(p.name for p in (run / "samples").iterdir())
    assert len(page.images) == len(samples) == 3  # steps 2, 4, 6
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    decoded = base64.b64decode(page.images[-1].split(",", 1)[1])
    assert decoded == (run / "samples" / samples[-1]).read_bytes()
    assert '"keep_best": 1' in page.pre
    text = path.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    assert "https://" not in text
    # linked instead of embedded, and written elsewhere
    other = write_report(run, run.parent / "elsewhere" / "r.html", embed_samples=False,
                         max_samples=2)  # fmt: skip
    linked = Page()
    linked.feed(other.read_text())
    assert linked.images == ["../run/samples/step-000002.png", "../run/samples/step-000006.png"]


def test_report_looks_right_in_chromium(run, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs chromium")
    path = write_report(run)
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,1400",
         f"--screenshot={shot}", path.as_uri()],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    with Image.open(shot) as image:
        assert image.size == (1000, 1400)
        colors = image.convert("RGB").getcolors(1 << 20)
    # the plot lines (#1f77b4) are drawn
    assert any(abs(r - 31) < 30 and abs(g - 119) < 30 and abs(b - 180) < 30 for _, (r, g, b) in
               colors)  # fmt: skip


def test_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none")]) == 2
    assert "not a training run folder" in capsys.readouterr().err


def test_model_card_records_data_steps_config_metrics_and_license(run):
    config = json.loads((run / "final/config.json").read_text())
    inference = config["inference"]
    assert inference["dataset"] == {"name": "facades", "split": "train", "pairs": 4,
                                    "direction": "BtoA"}  # fmt: skip
    assert inference["training"]["steps"] == 6 and inference["training"]["preset"] == "paper"
    assert inference["training"]["config"]["keep_best"] == 1
    assert "output_dir" not in inference["training"]["config"]  # no local paths
    assert set(inference["metrics"]) == {"val/L1", "val/PSNR", "val/SSIM"}
    assert inference["license"] == "mit"
    card = (run / "final/README.md").read_text()
    front = card.split("---")[1]
    assert 'license: "mit"' in front
    assert 'datasets:\n- "facades"' in front
    assert "model-index:" in front and '      name: "facades"' in front
    values = re.findall(r'- type: "(\w+)"\n\s+name: "([^"]+)"\n\s+value: ([-\d.e]+)', front)
    assert {name for _, name, _ in values} == {"val/L1", "val/PSNR", "val/SSIM"}
    last_val = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
                if "val/L1" in r][-1]  # fmt: skip
    assert float(dict((n, v) for _, n, v in values)["val/L1"]) == pytest.approx(last_val["val/L1"])
    assert "| Dataset | facades |" in card and "| Pairs | 4 |" in card
    assert "| Steps trained | 6 |" in card and "| Preset | paper |" in card
    assert "## Metrics" in card


def test_training_sample_grids_have_headers_and_the_step(run):
    with Image.open(run / "samples/step-000006.png") as image:
        grid = image.convert("L")
    # 2 validation pairs: 2 rows of 32 px with 2 px padding, under two 14 px header lines
    assert grid.size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2 + 2 * 14)
    header = grid.crop((0, 0, grid.width, 28))
    assert min(header.getdata()) < 100  # text was drawn
    assert min(grid.crop((0, 28, grid.width, 30)).getdata()) > 200  # the grid's white padding
