"""LPIPS from local weights: the formula, the files it finds or refuses, and evaluate's report.

Backbones are randomly initialised here (torchvision's weights are not shipped or downloaded);
the heads are the lpips package's own when it is installed (the ``lpips`` extra, in ``dev``).
"""

import json
import pickle
import shutil

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from pix2pix.cli import main
from pix2pix.evaluation import evaluate
from pix2pix.evaluation.lpips import (
    LPIPSNetwork,
    LpipsWeights,
    find_lpips_weights,
    lpips_distance,
    package_heads,
)
from pix2pix.models import UNetGenerator

TORCHVISION = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache, so the machine's own files never leak in."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    """torchvision state dicts with random weights, under torchvision's file names (made once)."""
    folder = tmp_path_factory.mktemp("backbones")
    files = {}
    for net, name in (("alex", "alexnet-owt-test.pth"), ("squeeze", "squeezenet1_1-test.pth")):
        torch.manual_seed(0)
        model = getattr(torchvision.models, TORCHVISION[net])(weights=None)
        torch.save(model.state_dict(), folder / name)
        files[net] = folder / name
    return files


def into_hub(hub, backbone):
    """Put a backbone file where torchvision keeps its downloads."""
    hub.mkdir(parents=True, exist_ok=True)
    (hub / backbone.name).symlink_to(backbone)
    return hub / backbone.name


def heads_file(folder, net="alex"):
    """Heads of the right shapes: the package's when installed, else positive random ones."""
    installed = package_heads(net)
    if installed is not None:
        return installed
    channels = {"alex": (64, 192, 384, 256, 256), "squeeze": (64, 128, 256, 384, 384, 512, 512)}
    g = torch.Generator().manual_seed(0)
    state = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g)
             for i, c in enumerate(channels[net])}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / f"{net}.pth")
    return folder / f"{net}.pth"


def pictures(n=2, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=g)
    return nn.functional.interpolate(coarse, size=size, mode="bilinear") * 2 - 1


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_identical_images_give_zero_and_the_distance_grows_with_noise(net):
    torch.manual_seed(0)
    network = LPIPSNetwork(net)
    clean = pictures()
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(clean.shape, generator=g)
    assert lpips_distance(clean, clean, network).tolist() == [0.0, 0.0]
    distances = [lpips_distance(clean + s * noise, clean, network) for s in (0.02, 0.1, 0.5)]
    assert (distances[0] > 0).all()
    assert (distances[0] < distances[1]).all() and (distances[1] < distances[2]).all()
    grey = lpips_distance(clean[:, :1], clean[:, :1] + 0.1 * noise[:, :1], network)
    assert grey.shape == (2,) and (grey > 0).all()  # one channel is repeated to three


@pytest.mark.parametrize("net", ["alex", "squeeze"])
@pytest.mark.parametrize("version", ["0.1", "0.0"])
def test_equals_the_lpips_package_with_the_same_weights(backbones, net, version):
    lpips = pytest.importorskip("lpips")
    backbone = backbones[net]
    reference = lpips.LPIPS(net=net, version=version, pnet_rand=True, verbose=False)
    # the package's backbone keys are sliceK.<torchvision features index>.<param>
    features = getattr(torchvision.models, TORCHVISION[net])(weights=None).features
    features.load_state_dict({k.removeprefix("features."): v
                              for k, v in torch.load(backbone).items() if k.startswith("features.")})  # fmt: skip
    reference.net.load_state_dict(
        {k: features.state_dict()[k.split(".", 1)[1]] for k in reference.net.state_dict()}
    )
    heads = package_heads(net, version)
    ours = LPIPSNetwork(weights=LpipsWeights(net, backbone, heads, version))
    x = pictures(3, 40)
    y = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)
    expected = reference(x, y).flatten().double()
    assert torch.allclose(lpips_distance(x, y, ours), expected, rtol=1e-5, atol=1e-7)


def test_weights_are_found_locally_and_only_there(tmp_path, empty_hub, backbones):
    heads = heads_file(tmp_path / "heads")
    if package_heads("alex") is None:
        assert find_lpips_weights("alex") is None  # neither part
    assert find_lpips_weights("alex", heads=heads) is None  # no backbone in the hub cache
    backbone = into_hub(empty_hub, backbones["alex"])
    found = find_lpips_weights("alex", heads=heads)
    assert found == LpipsWeights("alex", backbone, heads, "0.1")
    with pytest.raises(FileNotFoundError, match=r"nope\.pth.*alexnet"):
        find_lpips_weights("alex", backbone=tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="heads weights not found: .*missing"):
        find_lpips_weights("alex", heads=tmp_path / "missing")
    with pytest.raises(ValueError, match="lpips_net='resnet'"):
        find_lpips_weights("resnet")


def test_a_pickled_backbone_is_refused_unread_and_wrong_heads_are_named(tmp_path, backbones):
    class Payload:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))

    (tmp_path / "victim").mkdir()
    evil = tmp_path / "alexnet-owt-evil.pth"
    with open(evil, "wb") as handle:
        pickle.dump({"x": Payload()}, handle)
    heads = heads_file(tmp_path / "heads")
    with pytest.raises(
        ValueError, match="--lpips-weights .* is a pickle of Python objects.*refused unread"
    ):
        LPIPSNetwork(weights=LpipsWeights("alex", evil, heads))
    assert (tmp_path / "victim").is_dir()  # nothing ran
    backbone = backbones["alex"]
    with pytest.raises(ValueError, match="does not hold torchvision squeezenet1_1 weights"):
        LPIPSNetwork(weights=LpipsWeights("squeeze", backbone, heads))
    wrong = tmp_path / "wrong.pth"
    torch.save({"lin0.model.1.weight": torch.ones(1, 3, 1, 1)}, wrong)
    with pytest.raises(ValueError, match="wrong.pth does not hold the LPIPS linear heads"):
        LPIPSNetwork(weights=LpipsWeights("alex", backbone, wrong))
    with pytest.raises(ValueError, match="at least 31 px"):
        lpips_distance(pictures(1, 24), pictures(1, 24), LPIPSNetwork("alex"))


def write_pairs(folder, a, b, count=3):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / f"{i}.png")
    return folder


def test_evaluate_reports_lpips_with_what_produced_it(tmp_path, empty_hub, backbones, capsys):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    same = write_pairs(tmp_path / "same", image, image)
    heads = heads_file(tmp_path / "heads")

    absent = evaluate(nn.Identity(), same, num_gallery=0, progress=False)
    assert absent["lpips"] is None and absent["lpips_setup"] is None
    assert "alexnet" in absent["lpips_note"] and "Nothing is downloaded" in absent["lpips_note"]

    into_hub(empty_hub, backbones["alex"])  # torchvision's file in the hub cache is found
    result = evaluate(nn.Identity(), same, num_gallery=0, progress=False, lpips_heads=heads)
    assert result["lpips"] == 0.0 and result["lpips_std"] == 0.0
    assert [entry["lpips"] for entry in result["per_image"]] == [0.0, 0.0, 0.0]
    setup = result["lpips_setup"]
    assert setup["net"] == "alex" and setup["version"] == "0.1"
    assert setup["backbone"] == "torchvision alexnet" and len(setup["backbone_sha256"]) == 8
    assert setup["backbone_file"].endswith("alexnet-owt-test.pth")
    assert "LPIPS v0.1" in result["lpips_note"]

    noisy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    other = write_pairs(tmp_path / "noisy", image, noisy)
    worse = evaluate(nn.Identity(), other, num_gallery=0, progress=False, lpips_heads=heads)
    assert worse["lpips"] > 0

    small = write_pairs(tmp_path / "small", image[:24, :24], image[:24, :24])
    tiny = evaluate(nn.Identity(), small, num_gallery=0, progress=False, lpips_heads=heads)
    assert tiny["lpips"] is None and "31 px" in tiny["lpips_note"]

    # the CLI takes the files by flag (on a saved tiny U-Net); a missing one is one line
    saved = UNetGenerator(base_channels=4, num_downs=5).save_pretrained(
        tmp_path / "model", inference={"crop_size": 32}
    )
    data = write_pairs(tmp_path / "pairs", image[:32, :32], image[:32, :32], count=2)
    args = ["evaluate", "--model", str(saved), "--data", str(data), "--num-gallery", "0",
            "--no-progress", "--lpips-heads", str(heads), "--output", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert isinstance(written["lpips"], float) and written["lpips_setup"]["net"] == "alex"
    capsys.readouterr()
    assert main([*args, "--lpips-weights", str(tmp_path / "absent.pth")]) == 2
    assert "absent.pth" in capsys.readouterr().err
