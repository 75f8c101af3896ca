"""ONNX and TorchScript export: eval-mode generator, outputs equal to eager PyTorch."""

import copy
import json
import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from pix2pix import Translator
from pix2pix._extras import install_command
from pix2pix.export import export_model, export_onnx, export_torchscript
from pix2pix.models import PatchGANDiscriminator, ResNetGenerator

from helpers import tiny_unet

ATOL = 1e-4


def randomized(model):
    """Random running statistics, so eval mode (running stats) differs from train mode."""
    torch.manual_seed(0)
    for name, buffer in model.named_buffers():
        if "running_var" in name:
            buffer.copy_(torch.rand_like(buffer) + 0.5)
        elif "running_mean" in name:
            buffer.copy_(torch.randn_like(buffer) * 0.1)
    return model


@pytest.fixture(scope="module")
def randomized_unet():
    # batch norm + dropout: only an eval-mode export matches eager eval output
    return randomized(tiny_unet(dropout=0.5))


def eager(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was_training)
    return out.numpy()


def images(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def ort_session(path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def ort_run(session, x):
    return session.run(["output"], {"input": x.numpy()})[0]


@pytest.fixture(scope="module")
def onnx_deps():
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)


@pytest.fixture(scope="module")
def unet_onnx_fixed(onnx_deps, randomized_unet, tmp_path_factory):
    assert randomized_unet.training  # export must not depend on, nor change, the caller's mode
    path = export_onnx(randomized_unet, tmp_path_factory.mktemp("onnx") / "unet.onnx", size=64)
    assert randomized_unet.training
    return path


@pytest.fixture(scope="module")
def unet_onnx_dynamic(onnx_deps, randomized_unet, tmp_path_factory):
    # size=32 is one block of the size multiple: the export must not fix any dimension to it
    return export_onnx(
        randomized_unet,
        tmp_path_factory.mktemp("onnx") / "unet_dyn.onnx",
        size=32,
        dynamic_size=True,
    )


def test_onnx_fixed_size_matches_pytorch(unet_onnx_fixed, randomized_unet):
    session = ort_session(unet_onnx_fixed)
    (inp,) = session.get_inputs()
    assert inp.name == "input" and inp.shape == ["batch", 3, 64, 64]
    for batch in (1, 3):
        x = images(batch, 3, 64, 64, seed=batch)
        out = ort_run(session, x)
        assert out.shape == (batch, 3, 64, 64)
        assert np.abs(out - eager(randomized_unet, x)).max() < ATOL
    assert "pix2pix.min_size" not in session.get_modelmeta().custom_metadata_map  # one size
    ort = pytest.importorskip("onnxruntime")
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
        ort_run(session, images(1, 3, 96, 64))  # the size is fixed


def test_onnx_dynamic_size_matches_pytorch_at_multiples(unet_onnx_dynamic, randomized_unet):
    session = ort_session(unet_onnx_dynamic)
    assert session.get_inputs()[0].shape == ["batch", 3, "height", "width"]
    assert session.get_outputs()[0].shape == ["batch", 3, "height", "width"]
    for shape in [(2, 3, 96, 160), (1, 3, 32, 32)]:
        x = images(*shape)
        out = ort_run(session, x)
        assert out.shape == shape
        assert np.abs(out - eager(randomized_unet, x)).max() < ATOL
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["pix2pix.size_multiple"] == "32"
    assert meta["pix2pix.min_size"] == "1"
    assert meta["pix2pix.model_type"] == "UNetGenerator"
    assert json.loads(meta["pix2pix.config"])["num_downs"] == 5


def test_onnx_dynamic_size_takes_any_size_as_the_translator_does(
    unet_onnx_dynamic, randomized_unet
):
    # sizes that are not multiples of 32 were ONNX Runtime's raw "Invalid input shape: {1,1}";
    # the graph now pads them (reflection; replication where the pad is as large as the side)
    # and crops back, giving the Translator's result
    session = ort_session(unet_onnx_dynamic)
    # a copy: the Translator puts its generator in eval mode, and the fixture is shared
    translator = Translator(copy.deepcopy(randomized_unet), device="cpu")
    for shape in [(1, 3, 50, 70), (2, 3, 33, 64), (1, 3, 1, 1), (3, 3, 100, 7), (1, 3, 3, 5)]:
        x = images(*shape)
        out = ort_run(session, x)
        assert out.shape == shape
        assert np.abs(out - translator(x).numpy()).max() < ATOL, shape


def test_onnx_resnet_generator_dynamic_size(onnx_deps, tmp_path):
    # reflect padding and instance norm take other ONNX ops than the U-Net
    g = randomized(ResNetGenerator(base_channels=4, n_blocks=1))
    path = export_onnx(g, tmp_path / "resnet.onnx", size=(16, 24), dynamic_size=True)
    session = ort_session(path)
    translator = Translator(g, device="cpu")
    for shape in [(1, 3, 32, 20), (2, 3, 12, 28), (1, 3, 30, 21), (1, 3, 5, 9)]:
        x = images(*shape)
        assert np.abs(ort_run(session, x) - translator(x).numpy()).max() < ATOL, shape
    # two stride-2 convolutions leave one value per channel below 5 pixels, which instance
    # norm cannot normalise (eager PyTorch refuses it too): the file says so
    assert session.get_modelmeta().custom_metadata_map["pix2pix.min_size"] == "5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet.onnx"]  # no temporary left


def test_onnx_argument_errors(onnx_deps, randomized_unet, tmp_path):
    with pytest.raises(ValueError, match=r"size=\(64, 48\) must be .* multiples of 32"):
        export_onnx(randomized_unet, tmp_path / "x.onnx", size=(64, 48))
    with pytest.raises(ValueError, match="size=0"):
        export_onnx(randomized_unet, tmp_path / "x.onnx", size=0)
    with pytest.raises(ValueError, match="opset=17 is not supported"):
        export_onnx(randomized_unet, tmp_path / "x.onnx", opset=17)
    with pytest.raises(ValueError, match="Only generators can be exported"):
        export_onnx(PatchGANDiscriminator(base_channels=4), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="format='tflite' is not supported"):
        export_model(randomized_unet, tmp_path / "x.tflite", format="tflite")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(tmp_path / "nowhere", tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())


def test_missing_onnx_packages_give_the_install_hint(monkeypatch, randomized_unet, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"\(missing: onnxruntime\)") as error:
        export_onnx(randomized_unet, tmp_path / "x.onnx")
    assert str(error.value).endswith(install_command("onnx"))


def load_torchscript(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated
        return torch.jit.load(str(path))


def test_torchscript_equals_eager_and_keeps_the_input_checks(randomized_unet, tmp_path):
    path = export_torchscript(randomized_unet, tmp_path / "unet.pt", size=64)
    assert randomized_unet.training
    module = load_torchscript(path)
    for batch in (1, 3):
        x = images(batch, 3, 64, 64, seed=batch)
        with torch.no_grad():
            assert np.array_equal(module(x).numpy(), eager(randomized_unet, x))
    with pytest.raises(torch.jit.Error, match="this export takes 64x64 inputs"):
        module(images(1, 3, 96, 64))
    with pytest.raises(torch.jit.Error, match="expects 3 input channels"):
        module(images(1, 1, 64, 64))
    with pytest.raises(torch.jit.Error, match=r"takes 64x64 inputs; got shape \[1, 3, 65, 64\]"):
        module(images(1, 3, 65, 64))


def test_torchscript_dynamic_size_from_a_saved_folder(randomized_unet, tmp_path):
    randomized_unet.save_pretrained(
        tmp_path / "m", inference={"direction": "BtoA", "crop_size": 64}
    )
    # size defaults to the saved crop size
    path = export_model(tmp_path / "m", tmp_path / "unet.pt", format="torchscript", size=None)
    extra = {"pix2pix_config.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["pix2pix_config.json"])["inference"]["direction"] == "BtoA"
    with pytest.raises(torch.jit.Error, match="64x64"):
        load_torchscript(path)(images(1, 3, 96, 64))
    path = export_torchscript(
        Translator(randomized_unet), tmp_path / "dyn.pt", size=64, dynamic_size=True
    )
    module = load_torchscript(path)
    for shape in [(2, 3, 96, 160), (1, 3, 128, 32)]:
        x = images(*shape)
        with torch.no_grad():
            assert np.array_equal(module(x).numpy(), eager(randomized_unet, x))
    # any other size is padded and cropped back as the Translator does, bit for bit
    # a copy: the Translator puts its generator in eval mode, and the fixture is shared
    translator = Translator(copy.deepcopy(randomized_unet), device="cpu")
    for shape in [(1, 3, 50, 70), (2, 3, 1, 3), (1, 3, 100, 7)]:
        x = images(*shape)
        with torch.no_grad():
            assert torch.equal(module(x), translator(x)), shape
    with pytest.raises(torch.jit.Error, match="expects 3 input channels"):
        module(images(1, 4, 50, 70))


def test_cli_export_onnx_and_torchscript(onnx_deps, randomized_unet, tmp_path, capsys):
    from pix2pix.cli import main

    randomized_unet.save_pretrained(tmp_path / "m", inference={"direction": "AtoB"})
    args = ["export", "--model", str(tmp_path / "m"), "--size", "64", "--dynamic-size"]
    assert main([*args, "--format", "onnx", "--output", str(tmp_path / "g.onnx")]) == 0
    session = ort_session(tmp_path / "g.onnx")
    x = images(1, 3, 96, 64)
    assert np.abs(ort_run(session, x) - eager(randomized_unet, x)).max() < ATOL
    # the format follows the suffix when --format is left out
    pt = tmp_path / "g.pt"
    assert (
        main(["export", "--model", str(tmp_path / "m"), "--size", "64", "32", "--output", str(pt)])
        == 0
    )
    with torch.no_grad():
        x = images(2, 3, 64, 32)
        assert np.array_equal(load_torchscript(pt)(x).numpy(), eager(randomized_unet, x))


def test_cli_export_errors_are_one_line(randomized_unet, tmp_path, capsys, monkeypatch):
    from pix2pix.cli import main

    randomized_unet.save_pretrained(tmp_path / "m")
    assert main(["export", "--model", str(tmp_path / "m"), "--output", str(tmp_path / "g")]) == 2
    assert "pass --format onnx or torchscript" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "no"), "--output", "g.pt"]) == 2
    assert "does not exist" in capsys.readouterr().err
    args = ["export", "--model", str(tmp_path / "m"), "--output", str(tmp_path / "g.pt")]
    assert main([*args, "--size", "64", "48"]) == 2
    assert "multiples of 32" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main([*args, "--format", "onnx"]) == 2
    assert install_command("onnx") in capsys.readouterr().err


def test_dynamic_size_on_a_torch_without_dim_auto_is_one_clear_error(monkeypatch, randomized_unet):
    from torch.export import Dim

    from pix2pix import export

    monkeypatch.delattr(Dim, "AUTO")
    with pytest.raises(RuntimeError, match=r"needs torch 2.6 or newer .* export one fixed size"):
        export._dynamic_shapes(True)
    assert export._dynamic_shapes(False)[0][0] is not None  # fixed sizes need no AUTO


def test_an_opset_the_installed_onnx_cannot_write_is_refused(onnx_deps, randomized_unet, tmp_path):
    # issue 23: --opset 99 wrote opset 18 and reported success
    import onnx

    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(ValueError, match=rf"opset=99 is not supported: .* opsets 18 to {newest} "):
        export_onnx(randomized_unet, tmp_path / "x.onnx", size=32, opset=99)
    assert not list(tmp_path.iterdir())


def test_an_opset_the_exporter_did_not_write_is_an_error(
    onnx_deps, randomized_unet, tmp_path, monkeypatch
):
    # were the range check wrong, the file's own opset is checked: the exporter falls back to 18
    import onnx

    from pix2pix import export

    asked = onnx.defs.onnx_opset_version() + 1
    monkeypatch.setattr(export, "_max_opset", lambda: asked)
    with pytest.raises(RuntimeError, match=rf"produced opset 18, not the opset {asked} asked for"):
        export_onnx(randomized_unet, tmp_path / "x.onnx", size=32, opset=asked)
    assert not list(tmp_path.iterdir())


def test_cli_export_reports_the_opset_it_wrote(
    onnx_deps, randomized_unet, tmp_path, capsys, caplog
):
    import onnx

    from pix2pix.cli import main

    randomized_unet.save_pretrained(tmp_path / "m")
    args = ["export", "--model", str(tmp_path / "m"), "--size", "32"]
    assert main([*args, "--output", str(tmp_path / "g.onnx"), "--opset", "99"]) == 2
    err = capsys.readouterr().err
    newest = onnx.defs.onnx_opset_version()
    assert (
        err.count("\n") == 1
        and f"opset=99 is not supported: the exporter writes opsets 18 to {newest}" in err
    )
    assert not (tmp_path / "g.onnx").exists()
    with caplog.at_level(logging.INFO):
        assert main([*args, "--output", str(tmp_path / "g.onnx"), "--opset", "19"]) == 0
    assert f"wrote {tmp_path / 'g.onnx'} (onnx, opset 19; eval mode: running batch-norm " in (
        caplog.text
    )
    assert [(o.domain, o.version) for o in onnx.load(tmp_path / "g.onnx").opset_import] == [
        ("", 19)
    ]
    # a setting is never silently ignored: TorchScript has no opset
    assert main([*args, "--output", str(tmp_path / "g.pt"), "--opset", "19"]) == 2
    assert "--opset applies to ONNX exports only" in capsys.readouterr().err


def test_cli_onnx_export_prints_a_few_lines(onnx_deps, randomized_unet, tmp_path):
    # issue 27: the exporter's passes logged about 30 INFO lines through the CLI's logging; a
    # subprocess, because pytest's log capture keeps the CLI's logging.basicConfig from printing
    randomized_unet.save_pretrained(tmp_path / "m")
    output = tmp_path / "g.onnx"
    argv = ["export", "--model", str(tmp_path / "m"), "--output", str(output), "--size", "64"]
    result = subprocess.run(
        [sys.executable, "-m", "pix2pix", *argv, "--dynamic-size"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    # a real warning from a future torch may still show; the step log may not
    assert len(lines) < 8 and lines[-1].startswith(f"wrote {output} (onnx, opset 18; eval mode")


def test_cli_export_help_names_every_kind_of_model(capsys):
    from pix2pix.cli import main

    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "a registry name such as facades_label2photo (see `pix2pix models`" in help_text
    assert "Hugging Face Hub id" in help_text and ".pth" in help_text


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_resize_conv_generators_export_and_match_eager(onnx_deps, tmp_path, upsample):
    # resize-convolution decoders (issue 28.1) go through ONNX's Resize and TorchScript as
    # they run eagerly, at the exported size and at other sizes the Translator pads
    for name, g, size in [
        ("unet", tiny_unet(dropout=0.5, upsample=upsample), 64),
        ("resnet", ResNetGenerator(base_channels=4, n_blocks=1, upsample=upsample), 32),
    ]:
        g = randomized(g)
        session = ort_session(
            export_onnx(g, tmp_path / f"{name}.onnx", size=size, dynamic_size=True)
        )
        module = load_torchscript(
            export_torchscript(g, tmp_path / f"{name}.pt", size=size, dynamic_size=True)
        )
        translator = Translator(copy.deepcopy(g), device="cpu")
        for shape in [(1, 3, size, size), (2, 3, 2 * size, size), (1, 3, 50, 70)]:
            x = images(*shape)
            expected = translator(x)
            assert np.abs(ort_run(session, x) - expected.numpy()).max() < ATOL, (name, shape)
            with torch.no_grad():
                assert torch.equal(module(x), expected), (name, shape)
        assert torch.equal(
            translator(images(1, 3, size, size)),
            torch.from_numpy(eager(g, images(1, 3, size, size))),
        )


def _paper_unet():
    """Batch norm with random running statistics and a dropout block, recorded in paper mode."""
    return randomized(tiny_unet(num_downs=6, dropout=0.5))


def _without_dropout(model):
    twin = type(model)(**{**model.config, "dropout": 0.0})
    twin.load_state_dict(model.state_dict())
    return twin


def test_a_paper_mode_model_exports_per_image_statistics_without_dropout(onnx_deps, tmp_path):
    # a graph has no dropout RNG: the paper mode is exported as each image normalised with its
    # own batch statistics, no dropout, i.e. the paper mode of the model with dropout=0
    model = _paper_unet()
    model.save_pretrained(tmp_path / "m", inference={"test_mode": "paper"})
    a, b = images(1, 3, 64, 64, seed=1), images(1, 3, 64, 64, seed=2)
    noiseless = Translator(_without_dropout(model), device="cpu")
    expected = torch.cat([noiseless(x, test_mode="paper") for x in (a, b)]).numpy()
    eval_mode = Translator(model, device="cpu")(torch.cat([a, b]), test_mode="eval").numpy()
    assert np.abs(expected - eval_mode).max() > 0.01  # the two modes differ for this model

    pt = export_torchscript(tmp_path / "m", tmp_path / "g.pt", size=64)
    with torch.no_grad():
        out = load_torchscript(pt)(torch.cat([a, b])).numpy()  # a batch mixes nothing
    assert np.abs(out - expected).max() < ATOL
    files = {"pix2pix_config.json": ""}
    torch.jit.load(str(pt), _extra_files=files)
    record = json.loads(files["pix2pix_config.json"])["export"]
    assert record["test_mode"] == "paper" and "no dropout" in record["note"]

    path = export_onnx(tmp_path / "m", tmp_path / "g.onnx", size=64, dynamic_size=True)
    assert np.abs(ort_run(ort_session(path), torch.cat([a, b])) - expected).max() < ATOL
    import onnx

    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert props["pix2pix.test_mode"] == "paper"
    assert "without its dropout" in props["pix2pix.test_mode_note"]

    # test_mode="eval" exports the eval mode instead; a module records no mode: eval
    pt_eval = export_torchscript(tmp_path / "m", tmp_path / "e.pt", size=64, test_mode="eval")
    with torch.no_grad():
        assert np.abs(load_torchscript(pt_eval)(torch.cat([a, b])).numpy() - eval_mode).max() < ATOL
    with pytest.raises(ValueError, match="test_mode='train' is not a test mode"):
        export_torchscript(model, tmp_path / "x.pt", size=64, test_mode="train")


def test_cli_export_says_what_the_graph_of_a_paper_mode_model_does(tmp_path, caplog):
    from pix2pix.cli import main

    _paper_unet().save_pretrained(tmp_path / "m", inference={"test_mode": "paper"})
    args = ["export", "--model", str(tmp_path / "m"), "--size", "64"]
    with caplog.at_level(logging.INFO):
        assert main([*args, "--output", str(tmp_path / "g.pt")]) == 0
    assert "the paper's test mode without its dropout (a graph has no dropout RNG)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main([*args, "--output", str(tmp_path / "e.pt"), "--test-mode", "eval"]) == 0
    assert "(torchscript; eval mode: running batch-norm statistics" in caplog.text
    # a reference .pth exports in its paper mode; the dropout it may have had does not matter
    from reference import RefUnet, randomize

    torch.save(randomize(RefUnet(3, 3, 6, ngf=4)).state_dict(), tmp_path / "latest_net_G.pth")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        pth = ["export", "--model", str(tmp_path / "latest_net_G.pth"), "--size", "64"]
        assert main([*pth, "--output", str(tmp_path / "r.pt")]) == 0
    assert "without its dropout" in caplog.text and "assumed" not in caplog.text
