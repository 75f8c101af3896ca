import math

import pytest
import torch
import torch.nn.functional as F

from pix2pix.constants import GAN_MODE_CHOICES as GAN_MODES
from pix2pix.losses import GANLoss, gan_loss, gradient_penalty


@pytest.mark.parametrize("mode", GAN_MODES)
@pytest.mark.parametrize("real", [True, False])
@pytest.mark.parametrize("for_d", [True, False])
def test_functional_equals_module(mode, real, for_d):
    pred = torch.randn(2, 1, 5, 7)
    assert torch.equal(
        GANLoss(mode)(pred, real, for_d), gan_loss(pred, real, mode, for_discriminator=for_d)
    )


def test_vanilla_known_values():
    zeros = torch.zeros(1, 1, 30, 30)
    assert gan_loss(zeros, True).item() == pytest.approx(math.log(2))
    pred = torch.tensor([[[[2.0, -1.0]]]])
    expected_real = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2
    assert gan_loss(pred, True).item() == pytest.approx(expected_real, rel=1e-6)
    expected_fake = (math.log1p(math.exp(2.0)) + math.log1p(math.exp(-1.0))) / 2
    assert gan_loss(pred, False).item() == pytest.approx(expected_fake, rel=1e-6)
    # identical to BCE-with-logits against a broadcast label, as the reference
    assert torch.allclose(
        gan_loss(pred, True), F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))
    )


def test_lsgan_known_values_and_custom_labels():
    pred = torch.tensor([1.0, 0.0, 3.0])
    assert gan_loss(pred, True, "lsgan").item() == pytest.approx((0 + 1 + 4) / 3)
    assert gan_loss(pred, False, "lsgan").item() == pytest.approx((1 + 0 + 9) / 3)
    assert GANLoss("lsgan", real_label=0.9)(pred, True).item() == pytest.approx(
        ((0.1) ** 2 + 0.81 + 2.1**2) / 3
    )


def test_hinge_discriminator_and_generator_forms_differ():
    pred = torch.tensor([2.0, 0.5, -3.0])
    assert gan_loss(pred, True, "hinge").item() == pytest.approx((0 + 0.5 + 4) / 3)
    assert gan_loss(pred, False, "hinge").item() == pytest.approx((3 + 1.5 + 0) / 3)
    assert gan_loss(pred, True, "hinge", for_discriminator=False).item() == pytest.approx(
        -(2 + 0.5 - 3) / 3
    )


def test_wgangp_is_the_mean_score():
    pred = torch.tensor([2.0, 4.0])
    assert gan_loss(pred, True, "wgangp").item() == -3.0
    assert gan_loss(pred, False, "wgangp").item() == 3.0


def test_target_broadcasts_to_any_prediction_shape_and_dtype():
    for shape in [(1,), (3, 1, 30, 30), (2, 1, 7, 3)]:
        pred = torch.zeros(shape, dtype=torch.float64)
        loss = gan_loss(pred, False)
        assert loss.dtype == torch.float64 and loss.item() == pytest.approx(math.log(2))


def test_list_of_predictions_is_averaged():
    preds = [torch.zeros(1, 1, 4, 4), torch.full((1, 1, 2, 2), 100.0)]
    assert gan_loss(preds, True).item() == pytest.approx(math.log(2) / 2, rel=1e-5)


def test_gradients_flow():
    pred = torch.randn(2, 1, 4, 4, requires_grad=True)
    gan_loss(pred, True).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode='wgan'.*choose one of"):
        GANLoss("wgan")
    with pytest.raises(ValueError, match="mode='bce'"):
        gan_loss(torch.zeros(1), True, "bce")


class Linear(torch.nn.Module):
    """D(x) = sum(w * x): its input gradient is w everywhere, so the norm is known."""

    def __init__(self, scale):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((1, 2, 2, 2), scale))

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


@pytest.mark.parametrize("penalty_type", ["mixed", "real", "fake"])
def test_gradient_penalty_known_value(penalty_type):
    critic = Linear(0.5)  # gradient norm = sqrt(8 * 0.25) = sqrt(2)
    real, fake = torch.randn(3, 2, 2, 2), torch.randn(3, 2, 2, 2)
    gp = gradient_penalty(critic, real, fake, penalty_type=penalty_type, weight=10.0)
    assert gp.item() == pytest.approx(10 * (math.sqrt(2) - 1) ** 2, rel=1e-5)
    gp.backward()
    assert critic.w.grad is not None and critic.w.grad.abs().sum() > 0


def test_gradient_penalty_zero_at_unit_norm_and_errors():
    critic = Linear(1 / math.sqrt(8))
    x = torch.randn(2, 2, 2, 2)
    assert gradient_penalty(critic, x, x).item() == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="penalty_type='both'"):
        gradient_penalty(critic, x, x, penalty_type="both")
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, x, x[:1])
