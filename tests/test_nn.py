import pytest
import torch
from torch import nn

from pix2pix.nn import (
    ConvBlock,
    ResidualBlock,
    UpBlock,
    get_activation,
    get_norm_layer,
    init_weights,
)


def test_norm_layers_match_reference_settings():
    batch = get_norm_layer("batch", 8)
    assert isinstance(batch, nn.BatchNorm2d) and batch.affine and batch.track_running_stats
    inst = get_norm_layer("instance", 8)
    assert isinstance(inst, nn.InstanceNorm2d)
    assert not inst.affine and not inst.track_running_stats
    assert list(inst.state_dict()) == []
    assert isinstance(get_norm_layer("none", 8), nn.Identity)
    factory = get_norm_layer("batch")  # the reference's get_norm_layer(norm_type) form
    assert isinstance(factory(4), nn.BatchNorm2d) and factory(4).num_features == 4


@pytest.mark.parametrize("bad", ["group", "Batch", ""])
def test_unknown_norm_is_rejected_with_choices(bad):
    with pytest.raises(ValueError, match=r"norm=.*choose one of \('batch', 'instance', 'none'\)"):
        get_norm_layer(bad, 4)


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="activation='gelu'"):
        get_activation("gelu")


def test_conv_block_order_and_bias_rule():
    block = ConvBlock(3, 8, norm="batch", activation="leaky_relu")
    assert block.conv.bias is None  # cancelled by batch norm
    assert ConvBlock(3, 8, norm="instance").conv.bias is not None
    x = torch.randn(2, 3, 16, 16)
    block.eval()
    expected = nn.functional.leaky_relu(block.norm(block.conv(x)), 0.2)
    assert torch.equal(block(x), expected)
    pre = ConvBlock(3, 8, norm="batch", activation="leaky_relu", activation_first=True).eval()
    assert torch.equal(pre(x), pre.norm(pre.conv(nn.functional.leaky_relu(x, 0.2))))
    assert sorted(block.state_dict()) == [
        "conv.weight",
        "norm.bias",
        "norm.num_batches_tracked",
        "norm.running_mean",
        "norm.running_var",
        "norm.weight",
    ]


def test_up_block_shapes_dropout_and_order():
    block = UpBlock(8, 4, norm="batch", dropout=0.5)
    assert block(torch.randn(2, 8, 8, 8)).shape == (2, 4, 16, 16)
    assert isinstance(block.dropout, nn.Dropout) and block.dropout.p == 0.5
    assert isinstance(UpBlock(8, 4).dropout, nn.Identity)
    block.eval()
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(block(x), block.norm(block.conv(torch.relu(x))))
    with pytest.raises(ValueError, match="dropout=1.5"):
        UpBlock(8, 4, dropout=1.5)


def test_residual_block_is_identity_plus_residual():
    block = ResidualBlock(4, norm="instance")
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        for p in block.conv2.parameters():
            p.zero_()
    assert torch.equal(block(x), x)


def test_init_weights_normal_scheme():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(64, 128, 4), nn.BatchNorm2d(128), nn.ConvTranspose2d(128, 64, 4)
    )
    init_weights(model, "normal", 0.02)
    assert abs(model[0].weight.std().item() - 0.02) < 0.002
    assert abs(model[0].weight.mean().item()) < 0.002
    assert model[0].bias.abs().sum() == 0 and model[2].bias.abs().sum() == 0
    assert abs(model[1].weight.mean().item() - 1.0) < 0.01
    assert abs(model[1].weight.std().item() - 0.02) < 0.01
    assert model[1].bias.abs().sum() == 0


# Conv2d(64, 32, 3): fan_in = 64 * 9, fan_out = 32 * 9; a gain far from the default 0.02, so
# a scheme or gain mix-up changes the standard deviation by far more than the 5% tolerance
FAN_IN, FAN_OUT, GAIN = 64 * 9, 32 * 9, 1.7
EXPECTED_STD = {
    "normal": GAIN,  # N(0, gain)
    "xavier": GAIN * (2 / (FAN_IN + FAN_OUT)) ** 0.5,  # Xavier-normal with the gain
    "kaiming": (2 / FAN_IN) ** 0.5,  # Kaiming-normal, fan-in, a=0: the gain is unused
    "orthogonal": GAIN / FAN_IN**0.5,  # gain * orthonormal rows of length FAN_IN
}


@pytest.mark.parametrize("scheme", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_weights_draws_each_scheme_with_its_gain(scheme):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 32, 3), nn.Linear(4, 4))
    init_weights(model, scheme, GAIN)
    weight = model[0].weight.detach()
    assert weight.std().item() == pytest.approx(EXPECTED_STD[scheme], rel=0.05)
    assert abs(weight.mean().item()) < 0.05 * EXPECTED_STD[scheme]
    rows = weight.reshape(32, -1)
    gram = rows @ rows.T
    if scheme == "orthogonal":
        torch.testing.assert_close(gram, GAIN**2 * torch.eye(32), atol=1e-4, rtol=0)
    else:  # independent normal draws: far from orthogonal, and tails a uniform draw lacks
        assert (gram - torch.diag(gram.diag())).abs().max() > 0.1 * gram.diag().mean()
        tails = (weight.abs() > 2 * EXPECTED_STD[scheme]).float().mean().item()
        assert 0.035 < tails < 0.06  # P(|z| > 2) = 0.0455 for a normal, 0 for a uniform
    assert model[0].bias.abs().sum() == 0 and model[1].bias.abs().sum() == 0
    # every layer is visited: the Linear weight is re-drawn too, not left at its default init
    linear = nn.Linear(4, 4)
    torch.manual_seed(0)
    init_weights(linear, scheme, GAIN)
    assert not torch.equal(linear.weight, nn.Linear(4, 4).weight)


def test_init_weights_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="scheme='uniform'"):
        init_weights(nn.Conv2d(1, 1, 1), "uniform")
