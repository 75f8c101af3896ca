import pickle

import pytest
import torch
from PIL import Image

from pix2pix.cli import main
from pix2pix.models import PatchGANDiscriminator, PixelDiscriminator, ResNetGenerator, UNetGenerator
from pix2pix.models.convert import (
    convert_reference_state_dict,
    load_reference_checkpoint,
    read_reference_checkpoint,
)

from reference import RefNLayerD, RefPixelD, RefResnet, RefUnet, randomize


def assert_same_outputs(ours, ref, x):
    ours.eval()
    ref.eval()
    with torch.no_grad():
        diff = (ours(x) - ref(x)).abs().max().item()
    assert diff < 1e-5, diff


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize(("num_downs", "ngf"), [(7, 4), (8, 2), (5, 6)])
def test_unet_conversion_is_exact(tmp_path, norm, num_downs, ngf):
    ref = randomize(RefUnet(3, 2, num_downs, ngf=ngf, norm=norm), seed=num_downs)
    path = tmp_path / "latest_net_G.pth"
    torch.save(ref.state_dict(), path)
    ours = load_reference_checkpoint(path)
    assert isinstance(ours, UNetGenerator)
    assert ours.config == {
        "in_channels": 3,
        "out_channels": 2,
        "base_channels": ngf,
        "num_downs": num_downs,
        "norm": norm,
        "dropout": 0.5,
    }
    size = 2**num_downs
    assert_same_outputs(ours, ref, torch.randn(2, 3, size, size))


def test_unet_reference_keys_are_the_nested_ones():
    keys = list(RefUnet(3, 3, 8, ngf=2).state_dict())
    assert "model.model.0.weight" in keys
    assert "model.model.1.model.2.running_mean" in keys
    assert "model.model.3.bias" in keys


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize(("n_blocks", "dropout"), [(6, False), (9, True), (2, True)])
def test_resnet_conversion_is_exact(norm, n_blocks, dropout):
    ref = randomize(RefResnet(3, 1, ngf=4, norm=norm, dropout=dropout, n_blocks=n_blocks))
    ours = load_reference_checkpoint(ref.state_dict())
    assert isinstance(ours, ResNetGenerator)
    assert ours.config["n_blocks"] == n_blocks and ours.config["norm"] == norm
    assert ours.config["dropout"] == (0.5 if dropout else 0.0)
    assert ours.config["out_channels"] == 1
    assert_same_outputs(ours, ref, torch.randn(2, 3, 24, 32))


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("n_layers", [1, 3, 5])
def test_patchgan_conversion_is_exact(norm, n_layers):
    ref = randomize(RefNLayerD(6, ndf=4, n_layers=n_layers, norm=norm))
    ours = load_reference_checkpoint(ref.state_dict())
    assert isinstance(ours, PatchGANDiscriminator)
    assert ours.config == {"in_channels": 6, "base_channels": 4, "n_layers": n_layers, "norm": norm}
    assert_same_outputs(ours, ref, torch.randn(2, 6, 128, 96))


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_pixel_discriminator_conversion_is_exact(norm):
    ref = randomize(RefPixelD(4, ndf=8, norm=norm))
    ours = load_reference_checkpoint(ref.state_dict())
    assert isinstance(ours, PixelDiscriminator)
    assert_same_outputs(ours, ref, torch.randn(2, 4, 16, 16))


def test_reference_param_counts_match_ours():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(RefUnet(3, 3, 8)) == count(UNetGenerator()) == 54_413_955
    assert count(RefNLayerD(6)) == count(PatchGANDiscriminator()) == 2_768_705
    assert count(RefResnet(3, 3, n_blocks=9)) == count(ResNetGenerator()) == 11_378_179


def test_data_parallel_prefix_and_stale_instance_norm_stats_are_removed():
    ref = randomize(RefUnet(3, 3, 5, ngf=4, norm="instance"))
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}
    # checkpoints from PyTorch < 0.4 carry running stats for affine-free InstanceNorm layers
    state["module.model.model.1.model.2.running_mean"] = torch.zeros(8)
    state["module.model.model.1.model.2.running_var"] = torch.ones(8)
    state["module.model.model.1.model.2.num_batches_tracked"] = torch.tensor(3)
    ours = load_reference_checkpoint(state)
    assert_same_outputs(ours, ref, torch.randn(1, 3, 32, 32))


def test_overrides_replace_inferred_values():
    ref = randomize(RefUnet(3, 3, 5, ngf=4, dropout=False))
    ours = load_reference_checkpoint(ref.state_dict(), dropout=0.0)
    assert ours.config["dropout"] == 0.0
    config, renamed = convert_reference_state_dict(ref.state_dict(), architecture="unet")
    assert config["model_type"] == "UNetGenerator" and "encoder.0.conv.weight" in renamed
    with pytest.raises(ValueError, match="architecture='vgg'"):
        convert_reference_state_dict(ref.state_dict(), architecture="vgg")


def test_a_resnet_dropout_override_must_agree_with_its_layout():
    # a U-Net's dropout holds no weights (assumed 0.5); a ResNet's shifts its layer indices
    with_dropout = randomize(RefResnet(3, 3, ngf=4, n_blocks=2, dropout=True)).state_dict()
    assert load_reference_checkpoint(with_dropout, dropout=0.5).config["dropout"] == 0.5
    with pytest.raises(ValueError, match=r"dropout=0.0 contradicts .*show dropout layers"):
        load_reference_checkpoint(with_dropout, dropout=0.0)
    without = randomize(RefResnet(3, 3, ngf=4, n_blocks=2, dropout=False)).state_dict()
    with pytest.raises(ValueError, match=r"dropout=0.5 contradicts .*show no dropout layer"):
        load_reference_checkpoint(without, dropout=0.5)


def test_unet_converted_and_translated_with_the_defaults_is_canonical_test_py(tmp_path):
    # canonical test.py (no --eval): the network as built, in train mode, one image, no_grad,
    # after the seed; Translator's defaults for a .pth are that mode with seed 0
    from pix2pix import Translator

    ref = randomize(RefUnet(3, 3, 7, ngf=4))
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    translator = Translator.from_pretrained(tmp_path / "latest_net_G.pth", device="cpu")
    x = torch.randn(1, 3, 128, 128)
    torch.manual_seed(0)
    with torch.no_grad():
        canonical = ref.train()(x)
    assert (translator.translate(x) - canonical).abs().max() < 1e-5


def test_unrecognised_state_dict_is_refused():
    with pytest.raises(ValueError, match="Could not recognise the architecture"):
        load_reference_checkpoint({"features.0.weight": torch.zeros(1)})


def test_norm_none_reference_checkpoints_are_refused_clearly():
    ref = RefNLayerD(6, ndf=4, n_layers=2, norm="instance")
    state = {
        k: v
        for k, v in ref.state_dict().items()
        if not (k.endswith("bias") and k != "model.0.bias" and k != "model.8.bias")
    }
    with pytest.raises(ValueError, match="--norm none"):
        load_reference_checkpoint(state)


def test_wrong_shapes_are_listed():
    state = randomize(RefNLayerD(6, ndf=4, n_layers=2)).state_dict()
    state["model.5.weight"] = torch.zeros(16, 7, 4, 4)
    with pytest.raises(ValueError, match=r"shape mismatches \(1\): blocks\.2\.conv\.weight"):
        load_reference_checkpoint(state)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_reference_checkpoint(tmp_path / "nope.pth")


class Exploit:
    def __reduce__(self):
        return (print, ("this would have run",))


def test_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"model.0.weight": torch.zeros(1), "payload": Exploit()}, path)
    with pytest.raises(ValueError, match="Refused to load .*evil.pth.*could run arbitrary code"):
        read_reference_checkpoint(path)
    assert "this would have run" not in capsys.readouterr().out
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match="raw.pth"):
        read_reference_checkpoint(raw)
    assert "this would have run" not in capsys.readouterr().out


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save(RefUnet(3, 3, 5, ngf=2).state_dict(), path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"Could not read .*latest_net_G.pth: .*Download it again"):
        read_reference_checkpoint(path)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the file is empty"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "it looks like a web page"),
        (b"version https://git-lfs.github.com/spec/v1\n", "a Git LFS pointer, not the file"),
        (b"hello, not a checkpoint\n", "neither a zip archive nor a pickle"),
        # a pickle's first byte, then garbage: torch's unpickler fails with a KeyError inside
        (b"\x80\x02garbage that is no pickle", "damaged or cut short"),
    ],
)
def test_a_file_that_is_no_checkpoint_is_named_for_what_it_is(tmp_path, content, says):
    """A login page saved as latest_net_G.pth was called 'a pickle of Python objects'."""
    path = tmp_path / "latest_net_G.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=says) as raised:
        read_reference_checkpoint(path)
    message = str(raised.value)
    assert "\n" not in message and "Python objects" not in message
    assert str(path) in message and "Download it again" in message


def test_non_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        read_reference_checkpoint(path)


def test_unet_train_mode_with_dropout_matches_the_reference_for_a_seed():
    # same dropout draws in the same order, batch statistics: the training forward is identical
    ref = randomize(RefUnet(3, 3, 7, ngf=4))
    ours = load_reference_checkpoint(ref.state_dict())
    ref.train()
    ours.train()
    x = torch.randn(2, 3, 128, 128)
    torch.manual_seed(3)
    a = ref(x)
    torch.manual_seed(3)
    b = ours(x)
    assert (a - b).abs().max() < 1e-5


@pytest.mark.parametrize(
    ("ref", "dropped"),
    [
        (RefUnet(3, 3, 5, ngf=4), ["model.model.3.weight", "model.model.1.model.2.running_var"]),
        (RefUnet(3, 3, 5, ngf=4, norm="instance"), ["model.model.0.weight"]),
        (RefResnet(3, 3, ngf=4, n_blocks=2), ["model.1.weight", "model.19.weight"]),
        (RefResnet(3, 3, ngf=4, n_blocks=2), ["model.1.bias"]),  # not mistaken for --norm none
        (RefNLayerD(6, ndf=4, n_layers=2), ["model.0.weight", "model.8.weight"]),
        (RefPixelD(4, ndf=8), ["net.0.weight"]),
    ],
    ids=[
        "unet-outermost",
        "unet-first",
        "resnet-stem-head",
        "resnet-stem-bias",
        "patchgan",
        "pixel",
    ],
)
def test_partial_checkpoint_lists_every_missing_key_naming_the_file(tmp_path, ref, dropped):
    # issue 23: a reference .pth missing some tensors gave KeyError: 'decoder.0.conv.weight'
    state = {k: v for k, v in ref.state_dict().items() if k not in dropped}
    path = tmp_path / "partial_net_G.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as caught:
        load_reference_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"Incomplete reference checkpoint: {path} lacks {len(dropped)} of ")
    assert "\n" not in message
    for key in dropped:
        assert key in message  # named as in the file, with our name beside it
    assert "torch.save(net.state_dict(), path)" in message


def test_partial_checkpoint_lists_many_missing_keys_clipped():
    state = dict(RefUnet(3, 3, 6, ngf=4).state_dict())
    dropped = [k for k in state if k.endswith(("running_mean", "running_var"))]
    for key in dropped:
        del state[key]
    message = f"lacks {len(dropped)} of the 58 tensors .*, \\.\\.\\. \\({len(dropped) - 8} more\\)"
    with pytest.raises(ValueError, match=message):
        load_reference_checkpoint(state)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_unet_without_its_inner_levels_is_reported_as_incomplete(norm):
    state = dict(RefUnet(3, 3, 5, ngf=4, norm=norm).state_dict())
    for key in [k for k in state if k.startswith("model.model.1.model.3.")]:
        del state[key]
    # the layers left show level 1 has a level below it: the deepest missing keys are listed
    # (it was "Unexpected layer index", and a KeyError with the innermost level's keys)
    with pytest.raises(
        ValueError, match=r"Incomplete .* model\.model\.1\.model\.3\.model\.1\.weight"
    ):
        load_reference_checkpoint(state)


def test_partial_checkpoint_from_the_cli_is_one_line(tmp_path, capsys):
    state = dict(RefUnet(3, 3, 5, ngf=4).state_dict())
    del state["model.model.3.weight"]
    path = tmp_path / "latest_net_G.pth"
    torch.save(state, path)
    (tmp_path / "in").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    code = main(["translate", "--model", str(path), str(tmp_path / "in"), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{path} lacks 1 of the 46 tensors" in err and "model.model.3.weight" in err


def test_a_damaged_legacy_checkpoint_is_never_called_objects(tmp_path):
    """Reviewer: only the legacy format's first pickle (its magic number) was parsed, so any
    damage after it was reported as 'Python objects ... could run arbitrary code'."""
    path = tmp_path / "legacy.pth"
    torch.save(RefUnet(3, 3, 5, ngf=2).state_dict(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert len(read_reference_checkpoint(path)) > 0
    for offset in (30, 60, 120, 300, 600, 1200):
        for damaged in (data[:offset] + b"\xff" * 8 + data[offset + 8 :], data[:offset]):
            path.write_bytes(damaged)
            try:
                read_reference_checkpoint(path)
            except ValueError as error:
                assert "Python objects" not in str(error), offset
                assert str(error).startswith(f"Could not read {path}: "), offset


@pytest.mark.parametrize("legacy", [False, True])
def test_tensors_pickled_with_a_newer_protocol_are_named_as_such(tmp_path, legacy):
    """torch's safe loader refuses protocol 4/5 opcodes; the file holds only tensors."""
    path = tmp_path / "p5.pth"
    state = RefUnet(3, 3, 5, ngf=2).state_dict()
    torch.save(state, path, pickle_protocol=5, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ValueError, match="holds only tensors, but pickled in a form") as raised:
        read_reference_checkpoint(path)
    assert "Python objects" not in str(raised.value) and "default protocol" in str(raised.value)
    torch.save(state, path)  # the re-save the message asks for
    assert len(read_reference_checkpoint(path)) == len(state)
