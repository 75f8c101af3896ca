"""Every docstring example in the package runs, so the examples the API rule requires never rot.

One test per module of ``pix2pix`` (found from the files, so a new module is picked up without
touching this file). Examples run with the working directory in a fresh temporary folder, so an
example that writes a file leaves nothing behind; ``# doctest: +SKIP`` is for examples that need
data, a model download or the network.
"""

from __future__ import annotations

import doctest
import importlib
import io
import warnings
from pathlib import Path

import pytest

import pix2pix

PACKAGE = Path(pix2pix.__file__).parent
MODULES = sorted(
    ".".join(("pix2pix", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
        ".__init__"
    )
    for path in PACKAGE.rglob("*.py")
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# optional extras a module may need at import time: without them, its examples cannot run
OPTIONAL = {"fastapi", "uvicorn", "multipart", "python_multipart", "huggingface_hub", "onnx"}


def test_every_module_is_found():
    assert {"pix2pix", "pix2pix.nn.init", "pix2pix.trainer.trainer"} <= set(MODULES)
    assert all("__main__" not in name or name == "pix2pix.__main__" for name in MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # moved names forward with a warning
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            if error.name and error.name.split(".")[0] in OPTIONAL:
                pytest.skip(f"{name} needs {error.name}")
            raise
    monkeypatch.chdir(tmp_path)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    failed = []
    for test in finder.find(module, name):
        if test.examples and test.name.startswith(name):  # not names re-exported from elsewhere
            result = runner.run(test, out=report.write, clear_globs=True)
            if result.failed:
                failed.append(test.name)
    assert not failed, f"docstring examples fail in {failed}:\n{report.getvalue()}"
