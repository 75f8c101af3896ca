"""The README's, the quickstart's and the export page's commands and Python blocks, run as written.

Downloads go to a LocalServer on 127.0.0.1 that serves a tiny ``facades.tar.gz`` in the official
layout (``facades/{train,val,test}/N.jpg``, aligned ``A|B`` pairs) and a tiny reference-format
``models-pytorch/facades_label2photo.pth``; the registry entry of that name is swapped for a
tiny U-Net of the same kind for the test (the real one is unet_256 at 256 px, ~218 MB).
Shell lines run in-process through ``pix2pix.cli.main``; ``pip install`` lines are skipped.
"""

import dataclasses
import io
import re
import shlex
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix.cli import main
from pix2pix.data.synthetic import render_pair
from pix2pix.pretrained import download as download_module
from pix2pix.pretrained import get_pretrained, register_pretrained

from http_server import LocalServer
from reference import RefUnet, randomize

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

TINY_UNET = {
    "model_type": "UNetGenerator",
    "in_channels": 3,
    "out_channels": 3,
    "base_channels": 4,
    "num_downs": 5,
    "norm": "batch",
    "dropout": 0.5,
}
# Appended to every `pix2pix train` line, and nothing else is changed: a few steps of a tiny
# network on 32 px crops instead of the paper's 200 epochs of unet_256 at 256 px.
TRAIN_CAP = (
    "--max-steps 2 --num-downs 5 --base-channels 4 --disc-channels 4 "
    "--load-size 36 --crop-size 32 --no-progress-bar"
)


def blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


def shell_lines(path: Path) -> list[str]:
    """The commands of the ``bash`` blocks, comments stripped, install lines left out."""
    lines = []
    for block in blocks(path, "bash"):
        for line in block.splitlines():
            command = line.split(" #")[0].strip()
            if not command or command.startswith("#"):
                continue
            if "pip install" in command or command.startswith("python3 -m venv"):
                continue  # the environment is the one running these tests
            lines.append(command)
    return lines


def run_command(command: str) -> None:
    argv = shlex.split(command)
    assert argv[0] == "pix2pix", f"not a pix2pix command: {command!r}"
    if argv[1] == "demo":
        return  # minutes of training on built-in data, nothing downloaded; tested elsewhere
    if argv[1] == "train":
        argv += shlex.split(TRAIN_CAP)
    assert main(argv[1:]) == 0, command


def aligned_jpeg(index: int, split: str) -> bytes:
    """A 64 x 32 ``A|B`` pair: a synthetic photo on the left, its label map on the right."""
    labels, photo = render_pair(index, size=32, split="test" if split == "test" else "train")
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate([photo, labels], axis=1)).save(buffer, "JPEG")
    return buffer.getvalue()


def facades_archive(splits: dict[str, int]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folder = tarfile.TarInfo("facades")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for split, count in splits.items():
            for i in range(1, count + 1):
                data = aligned_jpeg(i, split)
                info = tarfile.TarInfo(f"facades/{split}/{i}.jpg")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def fresh_machine(tmp_path, monkeypatch):
    """An empty working folder and cache, the server as the download site, a tiny model."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PIX2PIX_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PIX2PIX_OFFLINE", raising=False)
    monkeypatch.setattr(download_module, "RETRIES", 1)
    monkeypatch.setattr(download_module, "BACKOFF_SECONDS", 0.0)
    original = get_pretrained("facades_label2photo")
    register_pretrained(
        dataclasses.replace(original, architecture=TINY_UNET, crop_size=32, load_size=36),
        replace=True,
    )
    checkpoint = io.BytesIO()
    torch.save(randomize(RefUnet(3, 3, 5, ngf=4, norm="batch"), seed=3).state_dict(), checkpoint)
    files = {
        "/datasets/facades.tar.gz": facades_archive({"train": 3, "val": 1, "test": 2}),
        "/models-pytorch/facades_label2photo.pth": checkpoint.getvalue(),
    }
    try:
        with LocalServer(files) as server:
            monkeypatch.setenv("PIX2PIX_DOWNLOAD_URL", server.url)
            yield work, server
    finally:
        register_pretrained(original, replace=True)


def test_the_readme_runs_as_written(fresh_machine):
    work, server = fresh_machine
    commands = shell_lines(ROOT / "README.md")
    assert any(c.startswith("pix2pix download facades") for c in commands)
    assert any(c.startswith("pix2pix train") for c in commands)
    assert any("--model facades_label2photo" in c for c in commands)
    for command in commands:
        run_command(command)
    assert len(list((work / "results" / "pretrained").glob("*.png"))) == 2
    assert len(list((work / "results" / "mine").glob("*.png"))) == 2
    python = blocks(ROOT / "README.md", "python")
    assert python
    for code in python:
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    with Image.open(work / "photo.png") as photo:
        assert photo.size == (32, 32)
    assert server.count("/datasets/facades.tar.gz") == 1
    assert server.count("/models-pytorch/facades_label2photo.pth") == 1  # cached after once


def test_the_quickstart_runs_as_written(fresh_machine):
    work, server = fresh_machine
    commands = shell_lines(ROOT / "docs" / "src" / "quickstart.md")
    assert [c.split()[1] for c in commands] == [
        "demo",
        "download",
        "translate",
        "train",
        "translate",
    ]
    for command in commands:
        run_command(command)
    # the translate lines: one PNG per test pair, with the pretrained and the trained model
    assert len(list((work / "photos").glob("*.png"))) == 2
    assert len(list((work / "my-photos").glob("*.png"))) == 2
    for code in blocks(ROOT / "docs" / "src" / "quickstart.md", "python"):
        exec(compile(code, "quickstart.md", "exec"), {"__name__": "__quickstart__"})
    assert (work / "photo.png").is_file()
    assert server.count("/models-pytorch/facades_label2photo.pth") == 1


def test_the_export_page_runs_as_written(tmp_path, monkeypatch):
    # docs/src/export.md, its ONNX and TorchScript section (the Hub section needs the network):
    # both commands, the Python export and the ONNX Runtime block on a 300x200 input
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)
    monkeypatch.chdir(tmp_path)
    from pix2pix.models import UNetGenerator

    generator = UNetGenerator(base_channels=4, num_downs=5)
    generator.save_pretrained(
        "runs/facades/final", inference={"direction": "BtoA", "crop_size": 32}
    )
    page = (ROOT / "docs" / "src" / "export.md").read_text(encoding="utf-8")
    section = page.split("## Hugging Face Hub")[0]
    section_file = tmp_path / "section.md"
    section_file.write_text(section, encoding="utf-8")
    commands = shell_lines(section_file)
    assert len(commands) == 2
    for command in commands:
        run_command(command)
    python = blocks(section_file, "python")
    assert len(python) == 2
    namespace: dict = {"__name__": "__export_page__"}
    for code in python:
        exec(compile(code, "export.md", "exec"), namespace)
    assert namespace["photo"].shape == (1, 3, 200, 300)
    assert Path("facades.onnx").is_file() and Path("facades.pt").is_file()
