"""The install line an error names for an optional package (pix2pix is not on PyPI)."""

import importlib.metadata
from pathlib import Path

import pytest
import tomllib

from pix2pix import _extras
from pix2pix._extras import MissingExtraError, install_command, require_extra

ROOT = Path(__file__).resolve().parents[1]


def _extras_of_pyproject() -> dict[str, list[str]]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["optional-dependencies"]


@pytest.mark.parametrize("extra", ["onnx", "serve", "hub", "tensorboard", "wandb"])
def test_the_install_line_names_the_extras_packages(extra, monkeypatch):
    """The packages come from the installed metadata, so the line works whatever the install
    (a wheel, the checkout, editable), and never names "pix2pix[...]" for pip to look up."""
    packages = _extras_of_pyproject()[extra]
    requires = [f'{p}; extra == "{extra}"' for p in packages] + ["torch>=2.3", 'x; extra == "y"']
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: requires)
    assert install_command(extra) == "pip install " + " ".join(f'"{p}"' for p in packages)


def test_without_metadata_the_checkout_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", missing)
    assert install_command("onnx") == 'pip install ".[onnx]" in the pix2pix checkout'


def test_the_installed_metadata_gives_pyprojects_packages():
    """The real metadata of this install (CI's is fresh from pyproject.toml)."""
    if importlib.metadata.requires("pix2pix") is None:
        pytest.skip("pix2pix runs from a source tree without metadata")
    assert install_command("onnx") == "pip install " + " ".join(
        f'"{p}"' for p in _extras_of_pyproject()["onnx"]
    )


def test_require_extra_is_one_line_with_the_install(monkeypatch):
    monkeypatch.setattr(_extras.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingExtraError) as error:
        require_extra("wandb", extra="wandb", purpose="--logger wandb")
    message = str(error.value)
    assert "\n" not in message and "pix2pix[" not in message
    assert message.startswith("--logger wandb needs the wandb package, which is not installed: ")
    assert message.endswith(install_command("wandb"))
