"""Helpers shared by the test modules (``tests/conftest.py`` puts this folder on ``sys.path``).

Plain functions where a test needs to pass arguments (tiny models of a given shape, data of a
given size); the fixtures built from them (``unet``) live in ``conftest.py``. The reference
algorithm the equivalence tests compare with is ``benchmarks/reference.py`` (``import
reference``), not a copy here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.trainer import TrainerConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def count(model: nn.Module) -> int:
    """The number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_unet(seed: int = 0, **changes) -> UNetGenerator:
    """A 32-px-capable U-Net with 4 base channels, drawn from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return UNetGenerator(**{"base_channels": 4, "num_downs": 5, **changes})


def make_data(n=6, size=32, seed=0, in_channels=3, out_channels=3):
    """``n`` random items ``{"source", "target", "path"}`` in [-1, 1], a map-style dataset."""
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "source": torch.rand(in_channels, size, size, generator=g) * 2 - 1,
            "target": torch.rand(out_channels, size, size, generator=g) * 2 - 1,
            "path": f"item{i}",
        }
        for i in range(n)
    ]


def tiny_models(seed=0, num_downs=5, norm="batch", dropout=0.5):
    """A tiny generator and discriminator drawn from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    generator = UNetGenerator(base_channels=4, num_downs=num_downs, norm=norm, dropout=dropout)
    discriminator = PatchGANDiscriminator(base_channels=4, n_layers=2, norm=norm)
    return generator, discriminator


def tiny_config(tmp_path, **changes):
    """A CPU ``TrainerConfig`` of 1 + 1 epochs at batch 2 writing under ``tmp_path / "run"``."""
    values = dict(
        epochs=1,
        epochs_decay=1,
        batch_size=2,
        device="cpu",
        output_dir=str(tmp_path / "run"),
        log_every=1,
        sample_every=0,
        val_every=0,
        checkpoint_every=0,
        progress_bar=False,
    )
    values.update(changes)
    return TrainerConfig(**values)


def assert_same_state(a: nn.Module, b: nn.Module):
    """The same state-dict keys, in the same order, with bit-identical tensors."""
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"{key} differs"


def assert_different_state(a: nn.Module, b: nn.Module):
    """At least one tensor of the two state dicts differs."""
    sa, sb = a.state_dict(), b.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)


def recorded_config(run) -> TrainerConfig:
    """The TrainerConfig that the run record ``run/run_config.json`` holds."""
    import json

    return TrainerConfig.from_dict(
        json.loads((Path(run) / "run_config.json").read_text())["trainer"]
    )
