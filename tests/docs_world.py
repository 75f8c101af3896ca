"""What the docs test runs the pages in: a fresh machine, a download site, the blocks themselves.

A page's blocks run in order in one fresh working folder, as a reader would type them: ``bash``
lines through ``pix2pix.cli.main`` in-process (``pix2pix train`` lines capped to a few steps of a
tiny network), ``python`` blocks in one namespace per page. Downloads go to a LocalServer on
127.0.0.1 serving a tiny ``facades.tar.gz`` in the official layout and a tiny reference-format
``facades_label2photo.pth`` (the registry entry is swapped for a tiny U-Net of the same kind).

A page may say what a reader did before it: ``<!-- docs-test: after quickstart.md -->`` runs
that page's blocks first. A block that cannot run here says why, on the line before its fence:
``<!-- not run: needs a GPU -->`` (an HTML comment: readers never see it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import runpy
import shlex
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pix2pix.cli import main
from pix2pix.data import download as data_download
from pix2pix.data.synthetic import render_pair
from pix2pix.pretrained import download as download_module
from pix2pix.pretrained import get_pretrained, register_pretrained

from http_server import LocalServer
from reference import RefUnet, randomize

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->\s*$")
AFTER = re.compile(r"<!--\s*docs-test:\s*after\s+(\S+)\s*-->")
SETUP = re.compile(r"<!--\s*docs-test:\s*setup\s+(\S+)\s*-->")
#: Fence languages that are code to run; everything else (text, json, output) is shown only.
RUN = ("bash", "python")

TINY_UNET = {
    "model_type": "UNetGenerator",
    "in_channels": 3,
    "out_channels": 3,
    "base_channels": 4,
    "num_downs": 5,
    "norm": "batch",
    "dropout": 0.5,
}


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: Path
    language: str
    code: str
    line: int
    not_run: str | None  # why it is not run, or None
    title: str | None = None  # a file the block is (```python title="my_callbacks.py"```)


def page_blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, with the reason it is not run when the page gives one."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.search(before)
        title = TITLE.search(match.group(2))
        found.append(
            Block(
                page,
                match.group(1),
                match.group(3),
                text[: match.start()].count("\n") + 1,
                reason.group(1) if reason else None,
                title.group(1) if title else None,
            )
        )
    return found


def prerequisites(page: Path) -> list[Path]:
    """The pages a reader ran before this one (``<!-- docs-test: after PAGE -->``)."""
    return [page.parent / name for name in AFTER.findall(page.read_text(encoding="utf-8"))]


def reference_checkpoints() -> None:
    """What the canonical repo leaves after training facades: ``checkpoints/NAME/latest_net_*``."""
    from reference import RefNLayerD

    folder = Path("checkpoints/facades_label2photo")
    folder.mkdir(parents=True)
    generator = randomize(RefUnet(3, 3, 5, ngf=4, norm="batch"), seed=1)
    torch.save(generator.state_dict(), folder / "latest_net_G.pth")
    torch.save(
        randomize(RefNLayerD(6, ndf=4, n_layers=2), seed=2).state_dict(),
        folder / "latest_net_D.pth",
    )


#: What a page may ask to find in place, as a reader who did it before would have.
SETUPS = {"reference-checkpoints": reference_checkpoints}


def commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments stripped."""
    joined = code.replace("\\\n", " ")
    lines = []
    for line in joined.splitlines():
        command = line.split(" #")[0].strip()
        if command and not command.startswith("#"):
            lines.append(command)
    return lines


def _given(argv: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def capped_train(argv: list[str]) -> list[str]:
    """A ``pix2pix train`` line as written, capped to a few steps of a tiny network."""
    argv = list(argv)
    if _given(argv, "--max-steps"):
        i = argv.index("--max-steps")
        argv[i + 1] = str(min(int(argv[i + 1]), 2))
    else:
        argv += ["--max-steps", "2"]
    argv.append("--no-progress-bar")
    if _given(argv, "--resume"):
        return argv  # a resumed run keeps its own models and sizes
    # the sizes stay as written (the paper's 286/256 by default): a page's Python may rebuild
    # the run's data with the library's defaults, and the network is tiny anyway
    if not _given(argv, "--config"):
        argv += ["--base-channels", "4", "--disc-channels", "4"]
        generator = argv[argv.index("--generator") + 1] if _given(argv, "--generator") else "unet"
        if generator.startswith("unet") and not _given(argv, "--num-downs"):
            argv += ["--num-downs", "5"]
    return argv


def run_command(command: str) -> None:
    """Run one shell line of a page, as a reader would."""
    argv = shlex.split(command)
    if argv[0] == "cd":
        os.chdir(argv[1])
        return
    if argv[0] == "export":
        name, _, value = argv[1].partition("=")
        os.environ[name] = value
        return
    if argv[:2] == ["python", "-m"] and argv[2] == "pix2pix":
        argv = ["pix2pix", *argv[3:]]
    if argv[0] == "python" and argv[1].endswith(".py"):
        script = ROOT / argv[1] if (ROOT / argv[1]).is_file() else Path(argv[1])
        saved = sys.argv
        sys.argv = [str(script), *argv[2:]]
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as done:
            assert done.code in (0, None), f"{command}: exit {done.code}"
        finally:
            sys.argv = saved
        return
    assert argv[0] == "pix2pix", (
        f"{command!r} is no pix2pix command: run it here, or mark the block <!-- not run: why -->"
    )
    if argv[1] == "demo":
        return  # minutes of training on built-in data, nothing downloaded; tested on its own
    if argv[1] == "train":
        argv = capped_train(argv)
    code = main(argv[1:])
    assert code == 0, f"{command!r} exited {code}"


def run_block(block: Block, namespace: dict) -> None:
    """Run a block of a page: its shell lines, or its Python in the page's namespace; a block
    with a title is a file the reader saves under that name."""
    if block.title is not None:
        Path(block.title).write_text(block.code, encoding="utf-8")
        return
    if block.language == "bash":
        for command in commands(block.code):
            if command.startswith(("pip install", "python3 -m venv", ". .venv")):
                continue  # the environment is the one running these tests
            run_command(command)
    elif block.language == "python":
        code = compile(block.code, f"{block.page.name}:{block.line}", "exec")
        exec(code, namespace)


def run_page(page: Path, done: set[Path] | None = None) -> dict:
    """Run the pages ``page`` follows, then ``page``'s own blocks; returns its namespace."""
    done = set() if done is None else done
    for before in prerequisites(page):
        if before not in done:
            run_page(before, done)
    done.add(page)
    for name in SETUP.findall(page.read_text(encoding="utf-8")):
        SETUPS[name]()
    namespace: dict = {"__name__": f"__docs_{page.stem}__"}
    for block in page_blocks(page):
        if block.language in RUN and block.not_run is None:
            run_block(block, namespace)
    return namespace


def aligned_jpeg(index: int, split: str) -> bytes:
    """A 64 x 32 ``A|B`` pair: a synthetic photo on the left, its label map on the right."""
    labels, photo = render_pair(index, size=32, split="test" if split == "test" else "train")
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate([photo, labels], axis=1)).save(buffer, "JPEG")
    return buffer.getvalue()


def facades_archive(splits: dict[str, int]) -> bytes:
    """A tiny ``facades.tar.gz`` in the official layout (``facades/{split}/N.jpg``)."""
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


@contextlib.contextmanager
def fresh_machine(tmp_path: Path, monkeypatch) -> Iterator[tuple[Path, LocalServer]]:
    """An empty working folder and cache, the server as the download site, a tiny model."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PIX2PIX_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PIX2PIX_OFFLINE", raising=False)
    monkeypatch.setattr(download_module, "RETRIES", 1)
    monkeypatch.setattr(download_module, "BACKOFF_SECONDS", 0.0)
    info = data_download.DATASETS["facades"]  # the real one has 400 training pairs
    monkeypatch.setitem(
        data_download.DATASETS, "facades", dataclasses.replace(info, counts={"train": 3})
    )
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
    saved_environ = dict(os.environ)
    try:
        with LocalServer(files) as server:
            monkeypatch.setenv("PIX2PIX_DOWNLOAD_URL", server.url)
            yield work, server
    finally:
        register_pretrained(original, replace=True)
        os.environ.clear()
        os.environ.update(saved_environ)
