import sys
from pathlib import Path

import pytest

# tests/ for the shared helpers (``import helpers``); benchmarks/ for the one reference
# re-implementation (``import reference``), the oracle of the equivalence tests
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from helpers import tiny_unet


@pytest.fixture
def unet():
    """A fresh tiny U-Net (4 base channels, 5 levels, batch norm, dropout) in training mode."""
    return tiny_unet()
