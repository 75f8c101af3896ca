"""An independent re-implementation of the reference pix2pix, for benchmarks and equivalence tests.

Written from the published architecture and algorithm (nested skip blocks, in-place
activations, ``nn.Sequential`` containers, two Adam optimisers, D then G), so that its state-dict
keys and numerics are those of the canonical PyTorch implementation
(``model.model.1.model.2.weight`` ...). It is the baseline the benchmarks compare against and
the oracle the tests compare with. Not part of the package.
"""

from __future__ import annotations

import torch
from torch import nn


def norm_factory(norm: str):
    if norm == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


class RefSkipBlock(nn.Module):
    """One level of the recursive U-Net: down, submodule, up, concatenated with the input."""

    def __init__(
        self,
        outer,
        inner,
        in_ch=None,
        sub=None,
        outermost=False,
        innermost=False,
        norm="batch",
        dropout=False,
    ):
        super().__init__()
        self.outermost = outermost
        make_norm = norm_factory(norm)
        bias = norm == "instance"
        in_ch = outer if in_ch is None else in_ch
        down_conv = nn.Conv2d(in_ch, inner, 4, 2, 1, bias=bias)
        down_act = nn.LeakyReLU(0.2, True)
        up_act = nn.ReLU(True)
        if outermost:
            up_conv = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)
            layers = [down_conv, sub, up_act, up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [down_act, down_conv, up_act, up_conv, make_norm(outer)]
        else:
            up_conv = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias)
            layers = [down_act, down_conv, make_norm(inner), sub, up_act, up_conv, make_norm(outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class RefUnet(nn.Module):
    def __init__(self, in_ch, out_ch, num_downs, ngf=64, norm="batch", dropout=True):
        super().__init__()
        block = RefSkipBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = RefSkipBlock(ngf * 8, ngf * 8, sub=block, norm=norm, dropout=dropout)
        block = RefSkipBlock(ngf * 4, ngf * 8, sub=block, norm=norm)
        block = RefSkipBlock(ngf * 2, ngf * 4, sub=block, norm=norm)
        block = RefSkipBlock(ngf, ngf * 2, sub=block, norm=norm)
        self.model = RefSkipBlock(out_ch, ngf, in_ch=in_ch, sub=block, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


class RefResBlock(nn.Module):
    def __init__(self, dim, norm, dropout, bias):
        super().__init__()
        make_norm = norm_factory(norm)
        layers = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            make_norm(dim),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnet(nn.Module):
    def __init__(self, in_ch, out_ch, ngf=64, norm="instance", dropout=False, n_blocks=9):
        super().__init__()
        make_norm = norm_factory(norm)
        bias = norm == "instance"
        layers = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_ch, ngf, 7, bias=bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            m = 2**i
            layers += [
                nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1, bias=bias),
                make_norm(ngf * m * 2),
                nn.ReLU(True),
            ]
        for _ in range(n_blocks):
            layers.append(RefResBlock(ngf * 4, norm, dropout, bias))
        for i in range(2):
            m = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1, bias=bias),
                make_norm(ngf * m // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class RefNLayerD(nn.Module):
    def __init__(self, in_ch, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        make_norm = norm_factory(norm)
        bias = norm == "instance"
        layers = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias),
                make_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias),
            make_norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, 1, 1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class RefPixelD(nn.Module):
    def __init__(self, in_ch, ndf=64, norm="batch"):
        super().__init__()
        bias = norm == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_factory(norm)(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x):
        return self.net(x)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Fill every parameter and BN buffer with distinct random values (so a mix-up shows)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                tensor.fill_(7)
            elif name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
    return module


def reference_init(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference ``init_weights(net, "normal", 0.02)``."""
    for m in module.modules():
        name = type(m).__name__
        if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
            nn.init.normal_(m.weight, 0.0, gain)
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0.0)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.constant_(m.bias, 0.0)
    return module


class RefGANLoss(nn.Module):
    """BCE-with-logits against a label tensor expanded to the prediction's shape."""

    def __init__(self):
        super().__init__()
        self.register_buffer("real_label", torch.tensor(1.0))
        self.register_buffer("fake_label", torch.tensor(0.0))
        self.loss = nn.BCEWithLogitsLoss()

    def forward(self, prediction, target_is_real):
        target = self.real_label if target_is_real else self.fake_label
        return self.loss(prediction, target.expand_as(prediction))


class RefPix2Pix:
    """The reference pix2pix training algorithm: one ``optimize_parameters`` call is one step.

    ``netG(real_A)``; D on ``cat(A, fake).detach()`` (fake) and ``cat(A, B)`` (real), loss halved,
    D step; D frozen; G on GAN(real) + 100 * L1, G step.
    """

    def __init__(self, netG, netD, lr=2e-4, beta1=0.5, lambda_l1=100.0):
        self.netG, self.netD, self.lambda_l1 = netG, netD, lambda_l1
        self.criterionGAN = RefGANLoss()
        self.criterionL1 = nn.L1Loss()
        self.optimizer_G = torch.optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
        self.optimizer_D = torch.optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))

    def to(self, device):
        self.criterionGAN.to(device)
        return self

    @staticmethod
    def set_requires_grad(net, flag):
        for p in net.parameters():
            p.requires_grad = flag

    def optimize_parameters(self, real_A, real_B):
        fake_B = self.netG(real_A)
        self.set_requires_grad(self.netD, True)
        self.optimizer_D.zero_grad()
        fake_AB = torch.cat((real_A, fake_B), 1)
        loss_D_fake = self.criterionGAN(self.netD(fake_AB.detach()), False)
        real_AB = torch.cat((real_A, real_B), 1)
        loss_D_real = self.criterionGAN(self.netD(real_AB), True)
        loss_D = (loss_D_fake + loss_D_real) * 0.5
        loss_D.backward()
        self.optimizer_D.step()
        self.set_requires_grad(self.netD, False)
        self.optimizer_G.zero_grad()
        loss_G_GAN = self.criterionGAN(self.netD(fake_AB), True)
        loss_G_L1 = self.criterionL1(fake_B, real_B) * self.lambda_l1
        loss_G = loss_G_GAN + loss_G_L1
        loss_G.backward()
        self.optimizer_G.step()
        return {"D": loss_D.detach(), "G_GAN": loss_G_GAN.detach(), "G_L1": loss_G_L1.detach()}


def build_reference(in_ch=3, out_ch=3, num_downs=8, ngf=64, ndf=64, norm="batch", dropout=True):
    """The reference pix2pix models (unet + 70x70 PatchGAN) with the reference initialisation."""
    netG = reference_init(RefUnet(in_ch, out_ch, num_downs, ngf=ngf, norm=norm, dropout=dropout))
    netD = reference_init(RefNLayerD(in_ch + out_ch, ndf=ndf, n_layers=3, norm=norm))
    return netG, netD
