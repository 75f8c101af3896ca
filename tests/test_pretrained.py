"""The pretrained registry and resolve_model, with tiny reference-format checkpoints served on
127.0.0.1 (the official files are unet_256, ~218 MB each, and not reachable from here)."""

import argparse
import ast
import io
import json
import os
from pathlib import Path

import pytest
import torch

import pix2pix
from pix2pix import Translator
from pix2pix.models import ResNetGenerator, UNetGenerator, load_pretrained
from pix2pix.models.convert import load_reference_checkpoint
from pix2pix.pretrained import (
    OfflineError,
    PaletteClass,
    PretrainedEntry,
    get_pretrained,
    is_cached,
    list_pretrained,
    register_pretrained,
    resolve_model,
    unregister_pretrained,
)
from pix2pix.pretrained import download as download_module
from pix2pix.pretrained import resolve as resolve_module
from pix2pix.pretrained.errors import HTTPStatusError, IntegrityError, RejectedFileError
from pix2pix.pretrained.registry import REGISTRY

from http_server import LocalServer
from reference import RefResnet, RefUnet, randomize

OFFICIAL_PIX2PIX = ["facades_label2photo", "sat2map", "map2sat", "edges2shoes", "day2night"]

TINY_UNET = {
    "model_type": "UNetGenerator",
    "in_channels": 3,
    "out_channels": 3,
    "base_channels": 4,
    "num_downs": 5,
    "norm": "batch",
    "dropout": 0.5,
}
PALETTE = (PaletteClass("wall", (0, 0, 255)), PaletteClass("window", (0, 85, 255)))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    home = tmp_path / "cache"
    monkeypatch.setenv("PIX2PIX_HOME", str(home))
    monkeypatch.delenv("PIX2PIX_OFFLINE", raising=False)
    monkeypatch.setattr(download_module, "RETRIES", 1)
    monkeypatch.setattr(download_module, "BACKOFF_SECONDS", 0.0)
    return home


@pytest.fixture
def server(cache, monkeypatch):
    with LocalServer() as running:
        monkeypatch.setenv("PIX2PIX_DOWNLOAD_URL", running.url)
        monkeypatch.setenv("PIX2PIX_CYCLEGAN_URL", running.url + "/cyclegan")
        yield running


def reference_bytes(module):
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture
def tiny(server, tmp_path):
    """A registered tiny pix2pix entry whose reference checkpoint the server holds."""
    ref = randomize(RefUnet(3, 3, 5, ngf=4, norm="batch"), seed=3)
    data = reference_bytes(ref)
    server.files["/models-pytorch/tiny_facades.pth"] = data
    by_hand = tmp_path / "latest_net_G.pth"
    by_hand.write_bytes(data)
    entry = register_pretrained(
        PretrainedEntry(
            name="tiny_facades",
            kind="pix2pix",
            task="label map -> photo",
            architecture=TINY_UNET,
            url_template="{base}/models-pytorch/{file}.pth",
            dataset="facades",
            direction="BtoA",
            crop_size=32,
            load_size=36,
            palette=PALETTE,
            sources={"direction": "the test"},
        )
    )
    yield entry, by_hand
    unregister_pretrained("tiny_facades")


# ------------------------------------------------------------------------------ the registry


def test_registry_holds_the_official_pix2pix_generators():
    assert list_pretrained("pix2pix") == OFFICIAL_PIX2PIX
    assert pix2pix.pretrained.list_pretrained()[:5] == OFFICIAL_PIX2PIX
    for name in OFFICIAL_PIX2PIX:
        entry = get_pretrained(name)
        assert entry.architecture["model_type"] == "UNetGenerator"
        assert entry.architecture["num_downs"] == 8 and entry.architecture["norm"] == "batch"
        assert entry.architecture["dropout"] == 0.5
        assert (entry.crop_size, entry.in_channels, entry.value_range) == (256, 3, (-1.0, 1.0))
        assert entry.sha256 is None  # never a hash we did not compute from the real file
        assert "direction" in entry.sources and entry.direction in ("AtoB", "BtoA")
    facades = get_pretrained("facades_label2photo")
    assert facades.direction == "BtoA" and "direction" not in facades.inferred
    assert [c.name for c in facades.palette][:3] == ["background", "facade", "window"]
    # the colours were measured on the facades label maps (pix2pix.palettes), not inferred
    assert len(facades.palette) == 12 and facades.inferred == ()
    assert "measured" in facades.sources["palette"]
    assert "INFERRED" not in facades.sources["palette"]
    # the authors' test mode: the canonical test.py without --eval (dropout, batch statistics)
    for name in OFFICIAL_PIX2PIX:
        entry = get_pretrained(name)
        assert entry.test_mode == "paper" and entry.inference()["test_mode"] == "paper"
        assert "test.py" in entry.sources["test_mode"]
    # every official direction has a source: the README for facades, BicycleGAN's scripts on
    # the same archives for maps, edges2shoes and night2day
    for name in OFFICIAL_PIX2PIX:
        entry = get_pretrained(name)
        assert "direction" not in entry.inferred and "INFERRED" not in entry.sources["direction"]
    assert "BtoA" in get_pretrained("map2sat").sources["direction"]


def test_urls_follow_the_canonical_layout_and_the_mirror_variables(monkeypatch):
    monkeypatch.delenv("PIX2PIX_DOWNLOAD_URL", raising=False)
    monkeypatch.delenv("PIX2PIX_CYCLEGAN_URL", raising=False)
    assert get_pretrained("facades_label2photo").url() == (
        "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/facades_label2photo.pth"
    )
    assert get_pretrained("horse2zebra").url() == (
        "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth"
    )
    assert get_pretrained("cyclegan_sat2map").url().endswith("/pretrained_models/sat2map.pth")
    monkeypatch.setenv("PIX2PIX_DOWNLOAD_URL", "http://mirror.local/p2p")
    assert get_pretrained("map2sat").url() == "http://mirror.local/p2p/models-pytorch/map2sat.pth"


def test_cyclegan_entries_are_marked_and_resnet_instance_norm():
    names = list_pretrained("cyclegan")
    assert "horse2zebra" in names and "monet2photo" in names
    for name in names:
        entry = get_pretrained(name)
        assert entry.kind == "cyclegan" and entry.direction is None
        assert entry.architecture["model_type"] == "ResNetGenerator"
        assert entry.architecture["norm"] == "instance" and entry.architecture["dropout"] == 0.0
        # instance norm and no dropout: both modes agree; eval, which batches
        assert entry.test_mode == "eval" and "same result" in entry.sources["test_mode"]


def test_register_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        register_pretrained(get_pretrained("sat2map"))


# ------------------------------------------------------------------------------ resolve_model


def test_a_registry_name_downloads_converts_once_and_loads_from_the_cache(
    tiny, server, cache, caplog
):
    _, by_hand = tiny
    assert not is_cached("tiny_facades")
    with caplog.at_level("INFO"):
        folder = resolve_model("tiny_facades", progress=False)
    assert folder == cache / "models" / "tiny_facades"
    assert f"Converted tiny_facades into {folder}" in caplog.text  # where the model went
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert is_cached("tiny_facades")
    assert not (cache / "downloads" / "tiny_facades.pth").exists()  # converted, then removed
    config = json.loads((folder / "config.json").read_text())
    inference = config["inference"]
    assert inference["direction"] == "BtoA"
    assert (inference["crop_size"], inference["load_size"]) == (32, 36)
    assert inference["in_channels"] == 3 and inference["value_range"] == [-1.0, 1.0]
    assert inference["palette"] == [
        {"name": "wall", "color": [0, 0, 255]},
        {"name": "window", "color": [0, 85, 255]},
    ]
    assert inference["source_url"] == server.url + "/models-pytorch/tiny_facades.pth"
    assert inference["test_mode"] == "paper"

    ours, expected = load_pretrained(folder), load_reference_checkpoint(by_hand)
    assert isinstance(ours, UNetGenerator) and ours.config == expected.config
    for key, value in expected.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key

    assert resolve_model("tiny_facades", progress=False) == folder
    assert server.count("/models-pytorch/tiny_facades.pth") == 1  # cache hit: no request
    manifest = json.loads((cache / "manifest.json").read_text())
    assert "downloads/tiny_facades.pth" in manifest
    assert "models/tiny_facades/model.safetensors" in manifest


def test_a_registry_model_translated_with_the_defaults_is_the_canonical_test_py_output(tiny):
    # canonical test.py without --eval: the network as built (train mode: dropout on, batch
    # statistics of its one-image batch), no_grad, after the seed; our defaults: seed 0
    _, by_hand = tiny
    translator = Translator.from_pretrained("tiny_facades")  # the name itself, no flags
    assert translator.direction == "BtoA" and translator.test_mode == "paper"
    ref = randomize(RefUnet(3, 3, 5, ngf=4, norm="batch"), seed=3)  # what the server holds
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        canonical = []
        for image in x.split(1):  # test.py's batch is one image
            torch.manual_seed(0)
            canonical.append(ref.train()(image))
    assert (translator.translate(x) - torch.cat(canonical)).abs().max() < 1e-5
    expected = load_reference_checkpoint(by_hand).eval()  # test.py --eval
    with torch.no_grad():
        assert torch.allclose(translator.translate(x, test_mode="eval"), expected(x), atol=1e-5)


def test_load_pretrained_takes_a_registry_name(tiny, server):
    model = load_pretrained("tiny_facades")
    assert isinstance(model, UNetGenerator) and model.config["base_channels"] == 4
    assert server.count("/models-pytorch/tiny_facades.pth") == 1


def test_offline_mode_needs_the_cache_and_then_works_without_requests(tiny, server, monkeypatch):
    monkeypatch.setenv("PIX2PIX_OFFLINE", "1")
    with pytest.raises(OfflineError, match="tiny_facades"):
        resolve_model("tiny_facades", progress=False)
    assert server.requests == []
    monkeypatch.delenv("PIX2PIX_OFFLINE")
    folder = resolve_model("tiny_facades", progress=False)
    monkeypatch.setenv("PIX2PIX_OFFLINE", "1")
    assert resolve_model("tiny_facades", progress=False) == folder
    assert server.count("/models-pytorch/tiny_facades.pth") == 1


def test_a_damaged_cached_model_is_removed_with_a_clear_error(tiny):
    folder = resolve_model("tiny_facades", progress=False)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="damaged and has been removed"):
        resolve_model("tiny_facades", progress=False)
    assert not folder.exists()


def test_a_file_of_another_architecture_is_refused_and_nothing_cached(tiny, server, cache):
    other = randomize(RefUnet(3, 3, 5, ngf=8, norm="batch"))
    server.files["/models-pytorch/tiny_facades.pth"] = reference_bytes(other)
    with pytest.raises(ValueError, match="base_channels: declared 4, file has 8"):
        resolve_model("tiny_facades", progress=False)
    assert not is_cached("tiny_facades")
    assert not (cache / "downloads" / "tiny_facades.pth").exists()


class _Payload:
    """Unpickling it would call os.getcwd (harmless here): a stand-in for a malicious .pth."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_a_refused_checkpoint_is_not_recorded_and_the_fixed_file_is_accepted(tiny, server, cache):
    # issue 23, item 5: the refused file's hash stayed in the manifest, so the good file the
    # server sent afterwards was refused as "changed on the server", forever
    _, by_hand = tiny
    buffer = io.BytesIO()
    torch.save({"model.model.0.weight": _Payload()}, buffer)
    server.files["/models-pytorch/tiny_facades.pth"] = buffer.getvalue()
    for attempt in (1, 2):
        with pytest.raises(RejectedFileError, match="not a usable reference checkpoint") as error:
            resolve_model("tiny_facades", progress=False)
        assert "deleted and nothing was recorded" in str(error.value)
        assert server.count("/models-pytorch/tiny_facades.pth") == attempt
        assert not (cache / "downloads" / "tiny_facades.pth").exists()
        assert not (cache / "manifest.json").exists()
    server.files["/models-pytorch/tiny_facades.pth"] = by_hand.read_bytes()  # fixed upstream
    folder = resolve_model("tiny_facades", progress=False)
    assert is_cached("tiny_facades") and folder.is_dir()
    manifest = json.loads((cache / "manifest.json").read_text())
    assert "downloads/tiny_facades.pth" in manifest


def test_http_404_for_a_registry_entry_names_the_url(tiny, server):
    del server.files["/models-pytorch/tiny_facades.pth"]
    with pytest.raises(HTTPStatusError, match="404") as error:
        resolve_model("tiny_facades", progress=False)
    assert "/models-pytorch/tiny_facades.pth" in str(error.value)


def test_an_old_checkpoint_without_batchnorm_counters_converts(tiny, server):
    _, by_hand = tiny
    state = torch.load(by_hand, weights_only=True)
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    buffer = io.BytesIO()
    torch.save(old, buffer)
    server.files["/models-pytorch/tiny_facades.pth"] = buffer.getvalue()
    ours = load_pretrained(resolve_model("tiny_facades", progress=False))
    assert torch.equal(ours.state_dict()["encoder.0.conv.weight"], state["model.model.0.weight"])


def test_a_cyclegan_entry_loads_through_the_same_converter(server):
    ref = randomize(RefResnet(3, 3, ngf=4, norm="instance", dropout=False, n_blocks=2))
    server.files["/cyclegan/pretrained_models/tiny_h2z.pth"] = reference_bytes(ref)
    register_pretrained(
        PretrainedEntry(
            name="tiny_h2z",
            kind="cyclegan",
            task="horse -> zebra",
            architecture={
                "model_type": "ResNetGenerator",
                "base_channels": 4,
                "n_blocks": 2,
                "norm": "instance",
                "dropout": 0.0,
            },
            url_template="{cyclegan_base}/pretrained_models/{file}.pth",
            crop_size=32,
        )
    )
    try:
        folder = resolve_model("tiny_h2z", progress=False)
    finally:
        unregister_pretrained("tiny_h2z")
    model = load_pretrained(folder)
    assert isinstance(model, ResNetGenerator)
    inference = json.loads((folder / "config.json").read_text())["inference"]
    assert inference["kind"] == "cyclegan" and "direction" not in inference
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), ref.eval()(x), atol=1e-5)
    # either mode is the canonical test.py's train mode: instance norm always normalises
    # each image by itself, and there is no dropout
    translator = Translator.from_pretrained(folder)
    assert inference["test_mode"] == translator.test_mode
    assert torch.equal(translator(x, test_mode="eval"), translator(x, test_mode="paper"))
    with torch.no_grad():
        assert torch.allclose(translator(x), ref.train()(x), atol=1e-5)


def test_an_existing_local_path_wins_over_a_registry_name(tiny, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained("tiny_facades")
    assert resolve_model("tiny_facades") == Path("tiny_facades")
    assert server.requests == []


def test_an_unknown_name_lists_the_registry_and_suggests_the_close_one(cache, tmp_path):
    with pytest.raises(FileNotFoundError, match="Did you mean 'facades_label2photo'") as error:
        resolve_model("facade_label2photo")
    assert "sat2map" in str(error.value) and "the path does not exist" in str(error.value)
    with pytest.raises(FileNotFoundError, match="No model found"):
        resolve_model(str(tmp_path / "runs" / "nothing" / "here"))


def test_a_hub_id_goes_to_the_hub_offline_when_pix2pix_is(cache, monkeypatch, tmp_path):
    constants = pytest.importorskip("huggingface_hub.constants")
    seen = {}

    def fake_hub(name):
        seen.update(name=name, env=os.environ.get("HF_HUB_OFFLINE"), flag=constants.HF_HUB_OFFLINE)
        return tmp_path

    monkeypatch.setattr(resolve_module.hub, "resolve_model_path", fake_hub)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = constants.HF_HUB_OFFLINE
    monkeypatch.setenv("PIX2PIX_OFFLINE", "1")
    assert resolve_model("someone/facades") == tmp_path
    assert seen == {"name": "someone/facades", "env": "1", "flag": True}
    assert "HF_HUB_OFFLINE" not in os.environ and before == constants.HF_HUB_OFFLINE  # restored
    monkeypatch.delenv("PIX2PIX_OFFLINE")
    resolve_model("someone/facades")
    assert seen["env"] is None  # online: the Hub keeps its own setting


# ------------------------------------------------------------------------------ the CLI


def test_cli_models_lists_every_entry_with_direction_dataset_and_cached(tiny, capsys):
    from pix2pix.cli import models as cli_models

    resolve_model("tiny_facades", progress=False)
    parser = argparse.ArgumentParser(prog="pix2pix")
    cli_models.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(rows) == set(REGISTRY)
    assert rows["facades_label2photo"][1:5] == ["pix2pix", "BtoA", "facades", "no"]
    assert rows["sat2map"][2] == "AtoB"  # confirmed: no star
    assert rows["tiny_facades"][1:5] == ["pix2pix", "BtoA", "facades", "yes"]
    assert rows["horse2zebra"][1:4] == ["cyclegan", "-", "-"]


# ------------------------------------------------------------------------------ layering


def test_the_model_classes_never_import_the_resolver():
    # also imports inside functions: every Import/ImportFrom node of pix2pix/models/*.py
    models = Path(pix2pix.__file__).parent / "models"
    for source in models.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                assert not name.startswith("pix2pix.pretrained"), f"{source.name} imports {name}"
