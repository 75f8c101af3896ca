"""The VGG perceptual loss (pix2pixHD's VGGLoss): the formula, its weights files, the trainer term.

The VGG19 here is randomly initialised (torchvision's 548 MB weights are not shipped or
downloaded): the plumbing is the same, and the cost per step too.
"""

import json
import pickle
import shutil

import pytest
import torch
import torch.nn.functional as F
import torchvision

from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.losses.perceptual import (
    LAYER_WEIGHTS,
    VGG19_DOWNLOAD_COMMAND,
    VGG19Features,
    VGGLoss,
    find_vgg19_weights,
    load_vgg19_features,
    vgg_loss,
)
from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer.loss_terms import LossInputs, generator_terms, weighted_sum

from helpers import make_data, recorded_config, tiny_config, tiny_models


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache, so the machine's own files never leak in."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random VGG19 (conv1_1 ... conv5_1) saved as a state dict under torchvision's name."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save(VGG19Features().state_dict(), path)
    return path


def pictures(n=2, size=32, seed=0, channels=3):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1


def test_the_layers_are_torchvisions_and_the_loss_is_pix2pixhds(weights):
    network = load_vgg19_features(weights)
    # the oracle: torchvision's vgg19().features with the same tensors, sliced as pix2pixHD's
    # Vgg19 (2, 7, 12, 21, 30) and weighted as its VGGLoss (1/32 ... 1), real detached
    with torch.device("meta"):
        reference = torchvision.models.vgg19(weights=None).features[:30]
    reference.load_state_dict(network.features.state_dict(), assign=True)  # same keys, shapes

    def pix2pixhd(x, y):
        loss, start = 0, 0
        for weight, end in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0], (2, 7, 12, 21, 30)):
            for index in range(start, end):
                x, y = reference[index](x), reference[index](y)
            loss += weight * F.l1_loss(x, y.detach())
            start = end
        return loss

    fake, real = pictures(seed=1), pictures(seed=2)
    expected = pix2pixhd(fake, real)
    assert torch.allclose(vgg_loss(fake, real, network), expected, rtol=1e-6)
    assert torch.equal(VGGLoss(network)(fake, real), vgg_loss(fake, real, network))
    assert float(vgg_loss(fake, fake, network)) == 0.0
    # ImageNet normalisation on request; one channel is repeated to three
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    norm = lambda x: ((x + 1) / 2 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)  # noqa: E731
    assert torch.allclose(
        vgg_loss(fake, real, network, normalize=True), pix2pixhd(norm(fake), norm(real)), rtol=1e-5
    )
    gray, gray_real = pictures(channels=1, seed=3), pictures(channels=1, seed=4)
    assert torch.equal(
        vgg_loss(gray, gray_real, network),
        vgg_loss(gray.expand(-1, 3, -1, -1), gray_real.expand(-1, 3, -1, -1), network),
    )
    with pytest.raises(ValueError, match=r"at least 16 px a side; fake is \(8, 8\)"):
        vgg_loss(pictures(size=8), pictures(size=8), network)
    with pytest.raises(ValueError, match=r"1 or 3, H, W\] images; fake is \(2, 2, 32, 32\)"):
        vgg_loss(pictures(channels=2), pictures(channels=2), network)
    with pytest.raises(ValueError, match="must hold 5 weights"):
        vgg_loss(fake, real, network, layer_weights=(1.0, 1.0))


def test_weights_come_from_a_given_file_or_the_hub_cache_never_a_download(
    tmp_path, empty_hub, weights
):
    assert find_vgg19_weights() is None
    with pytest.raises(FileNotFoundError) as error:
        load_vgg19_features()
    message = str(error.value)
    assert "\n" not in message
    for part in (str(empty_hub / "vgg19-*.pth"), VGG19_DOWNLOAD_COMMAND, "--vgg-weights PATH"):
        assert part in message
    with pytest.raises(FileNotFoundError, match="VGG19 weights not found: .*nowhere.pth"):
        load_vgg19_features(tmp_path / "nowhere.pth")
    empty_hub.mkdir(parents=True)
    (empty_hub / "vgg19-dcbb9e9d.pth").symlink_to(weights)  # where torchvision keeps it
    (empty_hub / "vgg19_bn-c79401a0.pth").touch()  # another network: not taken
    assert find_vgg19_weights() == empty_hub / "vgg19-dcbb9e9d.pth"
    network = load_vgg19_features()
    saved = torch.load(weights, weights_only=True)
    assert all(torch.equal(value, saved[key]) for key, value in network.state_dict().items())
    assert not network.training
    assert not any(p.requires_grad for p in network.parameters())


def test_a_pickle_is_refused_unread_and_other_tensors_are_named(tmp_path, weights):
    class Payload:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))

    (tmp_path / "victim").mkdir()
    evil = tmp_path / "vgg19-evil.pth"
    with open(evil, "wb") as handle:
        pickle.dump({"features.0.weight": Payload()}, handle)
    with pytest.raises(ValueError) as error:
        load_vgg19_features(evil)
    assert "--vgg-weights" in str(error.value) and "refused unread" in str(error.value)
    assert "\n" not in str(error.value)
    assert (tmp_path / "victim").is_dir()  # nothing ran
    # VGG16's features stop matching VGG19's at conv3_4 (features.16 is a pooling there)
    with torch.device("meta"):
        vgg16 = torchvision.models.vgg16(weights=None).features
    other = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": torch.zeros(v.shape) for k, v in vgg16.state_dict().items()},
               other)  # fmt: skip
    with pytest.raises(ValueError, match=r"does not hold torchvision vgg19 weights: features\.16"):
        load_vgg19_features(other)


def test_lambda_vgg_zero_adds_no_term_and_reads_no_weights(tmp_path):
    generator, discriminator = tiny_models()
    trainer = Trainer(generator, discriminator, tiny_config(tmp_path))  # empty hub: no VGG
    trainer.setup()
    assert [term.name for term in trainer.generator_terms] == ["G_GAN", "G_L1"]


def test_missing_weights_stop_the_run_before_its_first_step(tmp_path):
    generator, discriminator = tiny_models()
    trainer = Trainer(generator, discriminator, tiny_config(tmp_path, lambda_vgg=10.0),
                      train_data=make_data())  # fmt: skip
    with pytest.raises(FileNotFoundError, match="needs torchvision's VGG19 weights"):
        trainer.setup()  # what fit() calls first: the run stops before its first batch
    assert trainer.state.step == 0


def test_the_term_trains_the_generator_only_and_is_logged(tmp_path, weights):
    generator, discriminator = tiny_models()
    config = tiny_config(tmp_path, lambda_vgg=10.0, vgg_weights=str(weights))
    trainer = Trainer(generator, discriminator, config, train_data=make_data(n=4))
    trainer.setup()
    term = trainer.generator_terms[-1]
    assert (term.name, term.weight) == ("G_VGG", 10.0)
    loss = term.compute.args[0]  # the VGGLoss the term holds
    assert not loss.network.training
    assert not any(p.requires_grad for p in loss.network.parameters())

    # through the term alone: G gets gradients, D is never run, the VGG learns nothing
    source, target = pictures(seed=5), pictures(seed=6)
    calls = []
    inputs = LossInputs(source, target, generator(source),
                        lambda *a, **k: calls.append(a), discriminator)  # fmt: skip
    value = term.compute(inputs)
    value.backward()
    assert value > 0 and not calls
    assert all(p.grad is not None for p in generator.parameters())
    assert sum(float(p.grad.abs().sum()) for p in generator.parameters()) > 0
    assert all(p.grad is None for p in discriminator.parameters())
    assert all(p.grad is None for p in loss.network.parameters())

    # a step logs it, weighted; training leaves the VGG as it was
    before = {k: v.clone() for k, v in loss.network.state_dict().items()}
    logs = trainer.training_step({"source": source, "target": target})
    assert "G_VGG" in logs and float(logs["G_VGG"]) > 0
    trainer.fit()
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert any("G_VGG" in line for line in lines)
    after = loss.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_the_logged_value_is_lambda_times_the_loss(weights):
    _, discriminator = tiny_models()
    config = TrainerConfig(lambda_vgg=2.5, vgg_weights=str(weights), device="cpu")
    terms = generator_terms(config, discriminator)
    assert [term.name for term in terms] == ["G_GAN", "G_L1", "G_VGG"]
    fake, target = pictures(seed=7), pictures(seed=8)
    inputs = LossInputs(fake, target, fake, None, discriminator)
    _, logs = weighted_sum(terms[-1:], inputs)
    expected = 2.5 * vgg_loss(fake, target, load_vgg19_features(weights))
    assert torch.equal(logs["G_VGG"], expected)
    assert LAYER_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"lambda_vgg": -1.0}, "lambda_vgg=-1.0 is not allowed"),
        ({"lambda_vgg": float("nan")}, "lambda_vgg"),
        ({"lambda_vgg": float("inf")}, "lambda_vgg"),
        ({"vgg_weights": "vgg19.pth"}, "vgg_weights='vgg19.pth' has no effect with lambda_vgg=0"),
        ({"lambda_vgg": 10.0, "vgg_weights": ""}, "vgg_weights='' is not allowed"),
    ],
)
def test_config_refuses_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainerConfig(**changes)


def test_the_cli_flags_train_with_it_and_missing_weights_are_one_line(tmp_path, weights, capsys):
    SyntheticPairs(4, size=32, seed=0).write(tmp_path / "train")
    tiny = ["--data", str(tmp_path / "train"), "--direction", "BtoA", "--generator", "unet_128",
            "--num-downs", "5", "--base-channels", "4", "--disc-channels", "4",
            "--n-layers-d", "2", "--preprocess", "none", "--device", "cpu",
            "--no-progress-bar", "--max-steps", "2", "--lambda-vgg", "10"]  # fmt: skip
    code = main(["train", "--output", str(tmp_path / "a"), *tiny])
    full = capsys.readouterr().err
    err = full.splitlines()[-1]  # after check-data's progress bar
    assert code == 2 and "Traceback" not in full and err.startswith("pix2pix train: error: The VGG")
    assert "vgg19-*.pth" in err and "--vgg-weights PATH" in err
    assert not (tmp_path / "a" / "checkpoints").exists()
    run = tmp_path / "b"
    assert main(["train", "--output", str(run), *tiny, "--vgg-weights", str(weights)]) == 0
    recorded = recorded_config(run)
    assert (recorded.lambda_vgg, recorded.vgg_weights) == (10.0, str(weights))
    assert any("G_VGG" in line for line in (run / "metrics.jsonl").open())


def test_a_resumed_run_may_find_the_weights_elsewhere_but_not_change_lambda(tmp_path, weights):
    generator, discriminator = tiny_models()
    data = make_data(n=4)
    config = tiny_config(tmp_path, lambda_vgg=10.0, vgg_weights=str(weights), max_steps=2)
    Trainer(generator, discriminator, config, train_data=data).fit()
    moved = tmp_path / "moved" / "vgg19.pth"
    moved.parent.mkdir()
    shutil.copy(weights, moved)
    trainer = Trainer.from_run(tmp_path / "run", data, vgg_weights=str(moved), max_steps=3)
    trainer.fit()
    assert trainer.state.step == 3 and recorded_config(tmp_path / "run").vgg_weights == str(moved)
    with pytest.raises(ValueError, match="lambda_vgg"):
        Trainer.from_run(tmp_path / "run", data, lambda_vgg=5.0)
