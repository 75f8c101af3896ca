"""Every code block of every docs page and of the README runs as written (issue 27.3).

The pages are a glob, so a new page is covered without anyone remembering it. A block that
cannot run here (it needs the network, a GPU, several processes, or it starts a server that
runs until stopped) says so on the line before its fence, ``<!-- not run: REASON -->``, and
:func:`test_blocks_not_run_say_why` lists them with their reasons. See ``docs_world.py`` for
how the blocks run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from docs_world import ROOT, RUN, commands, fresh_machine, page_blocks, run_page

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "src").glob("*.md"))]
#: What may keep a block from running here, and nothing else.
REASONS = (
    "needs the network",
    "needs a GPU",
    "needs several processes",
    "starts a server that runs until stopped",
    "needs the real dataset",
    "trains for hours",
    "needs the VGG19 weights",
)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_block_runs_as_written(page: Path, tmp_path, monkeypatch):
    with fresh_machine(tmp_path, monkeypatch) as (work, server):
        namespace = run_page(page)
        if page.name == "README.md":
            with Image.open(work / "photo.png") as photo:
                assert photo.size == (32, 32)
            # one PNG per test pair, from the pretrained model and from the one trained here
            assert len(list((work / "results" / "pretrained").glob("*.png"))) == 2
            assert len(list((work / "results" / "mine").glob("*.png"))) == 2
            assert server.count("/datasets/facades.tar.gz") == 1
            assert server.count("/models-pytorch/facades_label2photo.pth") == 1  # then cached
        if page.name == "quickstart.md":
            # the path a reader walks: the demo, the data, a pretrained model, their own model
            steps = [
                command.split()[1]
                for block in page_blocks(page)
                if block.language == "bash" and block.not_run is None
                for command in commands(block.code)
                if command.startswith("pix2pix ")
            ]
            assert steps == ["demo", "download", "translate", "train", "translate"]
            assert len(list((work / "photos").glob("*.png"))) == 2
            assert len(list((work / "my-photos").glob("*.png"))) == 2
            assert (work / "photo.png").is_file()
            assert server.count("/models-pytorch/facades_label2photo.pth") == 1
        if page.name == "export.md":
            # both files, and ONNX Runtime's result at the 300x200 input's own size
            assert (work / "facades.onnx").is_file() and (work / "facades.pt").is_file()
            assert namespace["photo"].shape == (1, 3, 200, 300)


def test_blocks_not_run_say_why():
    skipped = [
        (f"{block.page.name}:{block.line}", block.not_run)
        for page in PAGES
        for block in page_blocks(page)
        if block.language in RUN and block.not_run is not None
    ]
    unexplained = [(where, why) for where, why in skipped if why not in REASONS]
    assert unexplained == [], f"blocks not run for no known reason: {unexplained}"
    # most of the docs run: docs that mark everything would be no test at all
    runnable = sum(
        1 for page in PAGES for b in page_blocks(page) if b.language in RUN and b.not_run is None
    )
    assert runnable > len(skipped), (runnable, skipped)


def test_every_code_block_says_its_language():
    bare = [
        f"{block.page.name}:{block.line}"
        for page in PAGES
        for block in page_blocks(page)
        if block.language == ""
    ]
    assert bare == [], f"fences without a language (bash, python, text...): {bare}"


def test_no_page_installs_pix2pix_from_the_index():
    """pix2pix is not on PyPI: ``pip install "pix2pix[serve]"`` fails in a fresh venv."""
    wrong = [
        f"{page.name}: {line.strip()}"
        for page in PAGES
        for line in page.read_text(encoding="utf-8").splitlines()
        if "pip install" in line and ("pix2pix[" in line or line.rstrip().endswith(" pix2pix"))
    ]
    assert wrong == [], f"install from the checkout (pip install '.[extra]'): {wrong}"
