"""The opt-in spectral norm of the PatchGAN: off by default, and what it claims when on."""

import pytest
import torch
from torch import nn

from pix2pix.models import PatchGANDiscriminator, load_pretrained

from helpers import count


def convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_default_is_unchanged():
    d = PatchGANDiscriminator(base_channels=4)
    assert "spectral_norm" not in d.config
    assert not any(nn.utils.parametrize.is_parametrized(c) for c in convs(d))
    assert "head.weight" in d.state_dict()


def test_same_parameter_count_and_shapes():
    torch.manual_seed(0)
    plain = PatchGANDiscriminator(base_channels=4, n_layers=2)
    spectral = PatchGANDiscriminator(base_channels=4, n_layers=2, spectral_norm=True)
    assert count(plain) == count(spectral)
    assert spectral.config["spectral_norm"] is True
    assert all(nn.utils.parametrize.is_parametrized(c, "weight") for c in convs(spectral))
    assert "head.parametrizations.weight.original" in spectral.state_dict()
    x = torch.randn(2, 6, 64, 64)
    assert spectral(x).shape == plain(x).shape
    assert PatchGANDiscriminator(spectral_norm=True).receptive_field == 70


def test_weights_have_unit_spectral_norm():
    torch.manual_seed(0)
    d = PatchGANDiscriminator(base_channels=4, n_layers=2, norm="none", spectral_norm=True)
    x = torch.randn(1, 6, 32, 32)
    for _ in range(20):  # power iterations run on training-mode forwards
        d(x)
    d.eval()
    for conv in convs(d):
        matrix = conv.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(matrix, ord=2) == pytest.approx(1.0, abs=1e-3)


def test_gradients_reach_the_raw_weights():
    torch.manual_seed(0)
    d = PatchGANDiscriminator(base_channels=4, n_layers=2, spectral_norm=True)
    d(torch.randn(2, 6, 32, 32)).mean().backward()
    for name, parameter in d.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    d = PatchGANDiscriminator(base_channels=4, n_layers=2, spectral_norm=True)
    d(torch.randn(1, 6, 32, 32))  # move the power-iteration state off its start
    d.save_pretrained(tmp_path / "d")
    loaded = load_pretrained(tmp_path / "d")
    assert loaded.config == d.config
    x = torch.randn(1, 6, 32, 32)
    d.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(d(x), loaded(x))


def test_bad_value_is_named():
    with pytest.raises(ValueError, match="spectral_norm='yes'"):
        PatchGANDiscriminator(spectral_norm="yes")
