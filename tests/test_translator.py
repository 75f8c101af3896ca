import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from pix2pix import Translator
from pix2pix.inference.tiling import pad_to_multiple, pad_to_multiple_in_graph
from pix2pix.models import PatchGANDiscriminator, UNetGenerator

from reference import RefNLayerD, RefUnet, randomize


class Identity(nn.Module):
    """A 'generator' that returns its input: conversions must round-trip exactly through it."""

    def __init__(self, channels=3):
        super().__init__()
        self.in_channels = self.out_channels = channels
        self.size_multiple = 1

    def forward(self, x):
        return x


class Pointwise(nn.Module):
    """A 1x1 generator: any tiling must give exactly the untiled result."""

    def __init__(self):
        super().__init__()
        self.in_channels, self.out_channels, self.size_multiple = 3, 3, 16
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        assert x.shape[-1] % 16 == 0 and x.shape[-2] % 16 == 0
        return torch.tanh(self.conv(x))


@pytest.fixture
def translator(unet):
    return Translator(unet, device="cpu")


def test_every_input_kind_round_trips_through_identity(tmp_path):
    t = Translator(Identity(), device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (21, 17, 3), dtype=np.uint8)
    assert np.array_equal(t(rgb), rgb)
    deep = np.random.default_rng(1).integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    out = t(deep)
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - deep).max() <= 1
    unit = np.random.default_rng(2).random((8, 6, 3), dtype=np.float32)
    out = t(unit)
    assert out.dtype == np.float32 and np.allclose(out, unit, atol=1e-6)
    pil = Image.fromarray(rgb)
    out = t(pil)
    assert isinstance(out, Image.Image) and out.size == pil.size and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), rgb)
    pil.save(tmp_path / "x.png")
    out = t(str(tmp_path / "x.png"))
    assert isinstance(out, Image.Image) and np.array_equal(np.asarray(out), rgb)
    tensor = torch.rand(3, 5, 7, dtype=torch.float64) * 2 - 1
    out = t(tensor)
    assert out.dtype == torch.float64 and out.shape == (3, 5, 7)
    assert torch.allclose(out, tensor, atol=1e-6)
    outs = t([rgb, pil])
    assert isinstance(outs, list) and len(outs) == 2 and isinstance(outs[1], Image.Image)


def test_any_size_is_padded_and_cropped_back(translator, unet):
    photo = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    assert translator(photo).shape == (200, 300, 3)
    assert translator(Image.fromarray(photo)).size == (300, 200)
    x = torch.rand(1, 3, 50, 70) * 2 - 1
    padded, _ = pad_to_multiple(x, 32)
    assert padded.shape[-2:] == (64, 96)
    with torch.no_grad():
        expected = unet.eval()(padded)[..., :50, :70]
    assert torch.allclose(translator(x), expected, atol=1e-6)
    # tiny inputs (smaller than the reflection pad) still work
    assert translator(torch.zeros(1, 3, 3, 5)).shape == (1, 3, 3, 5)


@pytest.mark.parametrize("multiple", [1, 4, 32])
def test_in_graph_padding_equals_the_eager_padding(multiple):
    # the exports pad with pad_to_multiple_in_graph: it must give pad_to_multiple's values for
    # every size, reflection and replication (a pad as large as the side, or larger) alike
    x = torch.rand(2, 3, 40, 40)
    modes = set()
    for height in (1, 2, 3, 7, 16, 17, 31, 32, 33, 40):
        for width in (1, 5, 20, 32, 39):
            crop = x[..., :height, :width]
            eager, size = pad_to_multiple(crop, multiple)
            graph = pad_to_multiple_in_graph(crop, multiple)
            assert size == (height, width)
            assert torch.equal(graph, eager), (height, width)
            pad_h, pad_w = (-height) % multiple, (-width) % multiple
            if pad_h or pad_w:
                modes.add("reflect" if pad_h < height and pad_w < width else "replicate")
    assert modes == (set() if multiple == 1 else {"reflect", "replicate"})


def test_exact_multiple_equals_the_generator_in_eval_mode(translator, unet):
    x = torch.rand(2, 3, 64, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(translator(x), unet.eval()(x))


def test_tiling_is_exact_for_a_pointwise_model_and_bounded_for_unet(translator):
    t = Translator(Pointwise(), device="cpu")
    x = torch.rand(1, 3, 100, 150) * 2 - 1
    full = t(x)
    for tile, overlap in [(32, 8), (48, 16), (64, 0)]:
        tiled = t(x, tile=tile, tile_overlap=overlap)
        assert torch.allclose(tiled, full, atol=1e-6), (tile, overlap)
    out = translator(x, tile=64, tile_overlap=16)
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="tile_overlap=64"):
        translator(x, tile=64, tile_overlap=64)
    with pytest.raises(ValueError, match="tile=0"):
        translator(x, tile=0)


def test_channel_rules():
    t = Translator(Identity(3), device="cpu")
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = t(gray)
    assert out.shape == (3, 4, 3) and all(np.array_equal(out[:, :, c], gray) for c in range(3))
    rgba = np.random.default_rng(0).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    out = t(rgba)
    assert out.shape == (5, 6, 4) and np.array_equal(out, rgba)  # alpha carried over
    assert t(Image.fromarray(rgba, "RGBA")).mode == "RGBA"
    t1 = Translator(Identity(1), device="cpu")
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    lum = np.asarray(Image.fromarray(rgb).convert("L")).astype(int)
    out = t1(rgb)
    assert out.shape == (5, 6, 1) and np.abs(out[:, :, 0].astype(int) - lum).max() <= 1
    assert t1(Image.fromarray(rgb)).mode == "L"
    assert t1(np.zeros((4, 4), np.uint8)).shape == (4, 4)
    with pytest.raises(ValueError, match=r"expects 2 input channel\(s\); got an image with 3"):
        Translator(Identity(2), device="cpu")(rgb)
    with pytest.raises(ValueError, match=r"expects 3 input channel\(s\); got 1"):
        t(torch.zeros(1, 1, 8, 8))


def test_bad_inputs_are_explained(translator, tmp_path):
    with pytest.raises(ValueError, match=r"float arrays must hold values in \[0, 1\]"):
        translator(np.full((8, 8, 3), 255.0, dtype=np.float32))
    with pytest.raises(ValueError, match="unsupported array dtype int64"):
        translator(np.zeros((8, 8, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="type dict"):
        translator({"a": 1})
    with pytest.raises(ValueError, match="float tensor"):
        translator(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        translator(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.png"):
        translator(tmp_path / "bad.png")


def test_both_modes_are_reproducible_by_default_and_seed_none_samples_afresh():
    unet = UNetGenerator(base_channels=4, num_downs=6)  # one dropout block (num_downs - 5)
    translator = Translator(unet, device="cpu")
    assert translator.test_mode == "eval"  # nothing recorded: eval, as before modes were
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.equal(translator(x), translator(x))
    stats = {k: v.clone() for k, v in unet.state_dict().items()}
    a = translator(x, test_mode="paper")
    assert torch.equal(a, translator(x, test_mode="paper"))  # seed 0 by default
    assert torch.equal(a, translator(x, test_mode="paper", seed=0))
    c = translator(x, test_mode="paper", seed=2)
    assert not torch.equal(a, c)
    assert not torch.allclose(a, translator(x))
    torch.manual_seed(7)
    fresh = [translator(x, test_mode="paper", seed=None) for _ in range(2)]
    assert not torch.equal(*fresh)
    state = torch.random.get_rng_state()
    translator(x, test_mode="paper", seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # a seeded call leaves it alone
    # the stored running statistics are untouched and eval mode is restored
    for k, v in unet.state_dict().items():
        assert torch.equal(v, stats[k]), k
    assert not any(m.training for m in unet.modules())
    assert all(m.track_running_stats for m in unet.modules() if isinstance(m, nn.BatchNorm2d))
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="seed="):
            translator(x, test_mode="paper", seed=bad)
    with pytest.raises(ValueError, match="test_mode='stochastic' is not a test mode"):
        translator(x, test_mode="stochastic")


def test_paper_mode_uses_batch_statistics(unet):
    t = Translator(UNetGenerator(base_channels=4, num_downs=5, dropout=0.0), device="cpu")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    g = t.generator
    g.train()
    with torch.no_grad():
        expected = g(x)  # train mode: batch statistics (no dropout in this model)
    g.eval()
    for k, v in g.state_dict().items():
        if "running" in k:
            v.copy_(torch.randn_like(v).abs() + 0.5 if "var" in k else torch.randn_like(v))
    assert torch.allclose(t(x, test_mode="paper"), expected, atol=1e-6)


def test_the_recorded_mode_is_the_default_and_arguments_override_it(tmp_path):
    unet = UNetGenerator(base_channels=4, num_downs=6)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    paper = Translator(unet, device="cpu", inference={"test_mode": "paper"})
    assert paper.test_mode == "paper"
    assert torch.equal(paper(x), Translator(unet, device="cpu")(x, test_mode="paper", seed=0))
    assert torch.equal(paper(x, test_mode="eval"), Translator(unet, device="cpu")(x))
    overridden = Translator(unet, device="cpu", inference={"test_mode": "paper"}, test_mode="eval")
    assert overridden.test_mode == "eval" and overridden.inference["test_mode"] == "eval"
    # recorded in config.json: saved, loaded back, and a config without the key is eval
    paper.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["inference"] == {
        "test_mode": "paper"
    }
    assert Translator.from_pretrained(tmp_path / "m", device="cpu").test_mode == "paper"
    loaded = Translator.from_pretrained(tmp_path / "m", device="cpu", test_mode="eval")
    assert loaded.test_mode == "eval"
    unet.save_pretrained(tmp_path / "old")
    assert Translator.from_pretrained(tmp_path / "old", device="cpu").test_mode == "eval"
    with pytest.raises(ValueError, match="test_mode='train' is not a test mode"):
        Translator(unet, test_mode="train")
    unet.save_pretrained(tmp_path / "bad", inference={"test_mode": "stochastic"})
    with pytest.raises(ValueError, match=r"bad: inference\[.test_mode.\]='stochastic'.*config"):
        Translator.from_pretrained(tmp_path / "bad", device="cpu")


def test_a_batch_in_paper_mode_never_mixes_the_images_statistics():
    # canonical test.py translates one image at a time: each image's batch-norm statistics are
    # its own, and it draws its dropout from the seed as it would alone
    translator = Translator(UNetGenerator(base_channels=4, num_downs=6), device="cpu")
    a, b = (torch.rand(1, 3, 64, 64) * 2 - 1 for _ in range(2))
    alone = [translator(a, test_mode="paper"), translator(b, test_mode="paper")]
    stacked = translator(torch.cat([a, b]), test_mode="paper")
    assert torch.equal(stacked, torch.cat(alone))
    listed = translator([a[0], b[0]], test_mode="paper", batch_size=2)
    assert torch.equal(listed[0], alone[0][0]) and torch.equal(listed[1], alone[1][0])
    # batch norm in train mode over the pair would differ
    mixed = translator.generator.train()
    torch.manual_seed(0)
    with torch.no_grad():
        assert not torch.allclose(mixed(torch.cat([a, b]))[:1], alone[0], atol=1e-3)
    mixed.eval()


def test_a_canonical_checkpoint_by_default_gives_the_canonical_test_py_output(tmp_path, caplog):
    # canonical test.py without --eval: the network as built (train mode: dropout on, batch
    # statistics of its one-image batch), under no_grad, after the seed
    ref = randomize(RefUnet(3, 3, 6, ngf=4), seed=4)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        canonical_eval = ref.eval()(x)  # test.py --eval (before train mode moves the statistics)
    with caplog.at_level("WARNING"):
        translator = Translator.from_pretrained(tmp_path / "latest_net_G.pth", device="cpu")
    assert translator.test_mode == "paper"
    message = caplog.text
    assert "latest_net_G.pth" in message and "dropout=0.5" in message
    assert "--no_dropout" in message and "dropout=0.0" in message and "--dropout 0" in message
    for seed in (0, 3):
        torch.manual_seed(seed)
        with torch.no_grad():
            canonical = ref.train()(x)
        ours = translator(x) if seed == 0 else translator(x, seed=seed)
        assert (ours - canonical).abs().max() < 1e-5
    assert (translator(x, test_mode="eval") - canonical_eval).abs().max() < 1e-5


def test_a_canonical_no_dropout_unet_needs_dropout_0_and_says_so(tmp_path, caplog):
    ref = randomize(RefUnet(3, 3, 6, ngf=4, dropout=False), seed=5)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    torch.manual_seed(0)
    with torch.no_grad():
        canonical = ref.train()(x)
    assumed = Translator.from_pretrained(tmp_path / "latest_net_G.pth", device="cpu")
    assert (assumed(x) - canonical).abs().max() > 1e-3  # dropout 0.5 where there was none
    caplog.clear()
    with caplog.at_level("WARNING"):
        told = Translator.from_pretrained(tmp_path / "latest_net_G.pth", device="cpu", dropout=0.0)
        Translator.from_pretrained(tmp_path / "latest_net_G.pth", test_mode="eval")
    assert caplog.text == ""  # nothing was assumed that matters
    assert told.generator.config["dropout"] == 0.0
    assert (told(x) - canonical).abs().max() < 1e-5
    folder = tmp_path / "saved"
    told.save_pretrained(folder)
    with pytest.raises(ValueError, match="dropout=0.0 is for a reference .pth.*saved"):
        Translator.from_pretrained(folder, dropout=0.0)


def test_from_pretrained_folder_file_and_reference_checkpoint(tmp_path, unet):
    unet.save_pretrained(tmp_path / "m", inference={"direction": "BtoA"})
    t = Translator.from_pretrained(tmp_path / "m", device="cpu")
    assert t.direction == "BtoA" and isinstance(t.generator, UNetGenerator)
    t2 = Translator.from_pretrained(tmp_path / "m" / "model.safetensors", device="cpu")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(t(x), t2(x))
    t.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["inference"] == {
        "direction": "BtoA"
    }
    ref = randomize(RefUnet(3, 3, 5, ngf=4)).eval()
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    t3 = Translator.from_pretrained(tmp_path / "latest_net_G.pth", device="cpu")
    with torch.no_grad():
        assert (t3(x, test_mode="eval") - ref(x)).abs().max() < 1e-5
    torch.save(RefNLayerD(6, ndf=4).state_dict(), tmp_path / "latest_net_D.pth")
    with pytest.raises(ValueError, match="not a generator"):
        Translator.from_pretrained(tmp_path / "latest_net_D.pth")
    PatchGANDiscriminator(base_channels=4).save_pretrained(tmp_path / "d")
    with pytest.raises(ValueError, match="not a generator"):
        Translator.from_pretrained(tmp_path / "d")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Translator.from_pretrained(tmp_path / "nowhere")


def test_bf16_is_close_to_fp32(unet):
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    full = Translator(unet, device="cpu")(x)
    half = Translator(unet, device="cpu", dtype="bf16")(x)
    assert half.dtype == torch.float32 and (half - full).abs().max() < 0.1
    with pytest.raises(ValueError, match="dtype='fp8'"):
        Translator(unet, dtype="fp8")


def test_device_auto_picks_cpu_without_cuda(unet):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    assert Translator(unet).device.type == "cpu"


def test_compile_matches_eager(unet):
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    eager = Translator(unet, device="cpu")(x)
    compiled = Translator(unet, device="cpu", compile=True)
    assert torch.allclose(compiled(x), eager, atol=1e-4)


def test_compile_matches_eager_in_the_paper_mode_dropout_included():
    unet = UNetGenerator(base_channels=4, num_downs=6)  # a dropout block
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    torch.compile(unet)(torch.rand(1, 3, 128, 128))  # another size compiled first
    eager = Translator(unet, device="cpu")(x, test_mode="paper", seed=3)
    with pytest.warns(UserWarning, match="dropout, which runs uncompiled"):
        compiled = Translator(unet, device="cpu", compile=True, test_mode="paper")
    assert torch.allclose(compiled(x, seed=3), eager, atol=1e-4)  # the same masks for a seed
    assert torch.allclose(compiled(x, test_mode="eval"), Translator(unet)(x), atol=1e-4)


class BatchRecorder(Pointwise):
    """A pointwise generator that records the batch size of every forward call."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        return super().forward(x)


def test_lists_are_batched_by_consecutive_size_and_match_one_by_one():
    torch.manual_seed(0)
    model = BatchRecorder()
    t = Translator(model, device="cpu")
    rng = np.random.default_rng(0)
    small = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(5)]
    gray = Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8), "L")
    big = rng.integers(0, 256, (40, 24, 3), dtype=np.uint8)
    stack = torch.rand(2, 3, 20, 24) * 2 - 1
    items = [*small[:3], gray, big, stack, *small[3:]]
    batched = t.translate(items, batch_size=3)
    # runs: 3 small | gray (same size, new batch as the first is full) | big | the NxCxHxW
    # tensor on its own | the last two small ones
    assert model.sizes == [3, 1, 1, 2, 2]
    model.sizes.clear()
    one_by_one = t.translate(items)
    assert model.sizes == [1] * 5 + [2] + [1] * 2
    assert len(batched) == len(items)
    for got, want in zip(batched, one_by_one):
        assert type(got) is type(want)
        a, b = (
            np.asarray(v, dtype=np.float64) if not torch.is_tensor(v) else v for v in (got, want)
        )
        if torch.is_tensor(a):
            assert torch.allclose(a, b, atol=1e-6)
        else:
            assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_batching_is_ignored_where_it_would_change_results(translator):
    model = BatchRecorder()
    t = Translator(model, device="cpu")
    items = [torch.rand(3, 16, 16) * 2 - 1 for _ in range(3)]
    t.translate(items, batch_size=4, test_mode="paper", seed=0)
    t.translate(items, batch_size=4, tile=16, tile_overlap=0)
    assert model.sizes == [1] * 6
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size"):
            translator.translate(items, batch_size=bad)


def test_batched_unet_matches_one_by_one(translator):
    items = [torch.rand(3, 32, 32) * 2 - 1 for _ in range(4)]
    batched = translator.translate(items, batch_size=4)
    for got, x in zip(batched, items):
        assert torch.allclose(got, translator.translate(x), atol=1e-5)
