"""The CUDA paths, run for real on a GPU (marker ``cuda``; every test skips without CUDA).

Run: ``python -m pytest -m cuda tests/test_cuda.py`` (about two minutes on an H100/H200: tiny
models, 32-64 px). Speed is measured by ``benchmarks/gpu_suite.py``, never here.

Tolerances, and why:

* fp32 on CUDA against fp32 on the CPU: cuDNN convolutions use TF32 by default
  (``torch.backends.cudnn.allow_tf32``), 10 bits of mantissa, so outputs agree to about 1e-2
  and losses to 1%, not to float rounding.
* bf16 / fp16 autocast training steps against the fp32 CUDA step: losses within 5% (+1e-3);
  after three steps the generators have drifted apart by less than half of the distance they
  moved (the same bound as ``test_trainer_fast.py``: a run on other data drifts by > 80%).
* Translator in bf16 / fp16 against fp32: within 0.15 in [-1, 1] at most, 0.02 on average.
* Bit-exact resume on CUDA in fp32 with deterministic cuDNN (``cudnn.deterministic``, no
  ``benchmark``): the non-deterministic kernels would make even two identical runs differ.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pix2pix import PatchGANDiscriminator, Translator, UNetGenerator
from pix2pix.trainer import Trainer, TrainerConfig

from helpers import assert_same_state, make_data, tiny_config, tiny_models

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

LOSS_RTOL = 0.05
TF32_ATOL = 1e-2


def pair(seed: int = 0, size: int = 64, batch: int = 2) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    source = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
    return {"source": source, "target": torch.tanh(source * 1.5).flip(-1)}


def make_trainer(**settings) -> Trainer:
    torch.manual_seed(0)
    g = UNetGenerator(base_channels=8, num_downs=6, dropout=0.0)
    d = PatchGANDiscriminator(base_channels=8, n_layers=2)
    settings.setdefault("device", "cuda")
    return Trainer(g, d, TrainerConfig(progress_bar=False, **settings))


def twin(reference: Trainer, **settings) -> Trainer:
    """A trainer with ``settings`` starting from ``reference``'s weights."""
    other = make_trainer(**settings)
    other.generator.load_state_dict(copy.deepcopy(reference.generator.state_dict()))
    other.discriminator.load_state_dict(copy.deepcopy(reference.discriminator.state_dict()))
    return other


def drift(a: Trainer, b: Trainer, init: dict[str, torch.Tensor]) -> float:
    """Distance between two runs' generator weights, relative to how far run ``a`` moved."""
    moved = apart = 0.0
    sb = b.generator.state_dict()
    for name, value in a.generator.state_dict().items():
        if value.is_floating_point() and "running" not in name:
            start = init[name].to(value.device)
            moved += (value - start).abs().sum().item()
            apart += (value.float() - sb[name].to(value.device).float()).abs().sum().item()
    return apart / moved


def close_losses(exact: dict, approx: dict, rtol: float = LOSS_RTOL) -> None:
    for key in ("D_fake", "D_real", "G_GAN", "G_L1"):
        want, got = exact[key].item(), approx[key].item()
        assert abs(got - want) <= rtol * abs(want) + 1e-3, (key, want, got)


@pytest.fixture
def deterministic_cudnn():
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


# ===================================================================== training
def test_fp32_step_on_cuda_matches_the_cpu_within_tf32():
    cpu = make_trainer(device="cpu")
    gpu = twin(cpu, device="cuda")
    batch = pair()
    exact, approx = cpu.training_step(batch), gpu.training_step(batch)
    assert all(v.device.type == "cuda" for v in approx.values())
    close_losses(exact, approx, rtol=0.01)


@pytest.mark.parametrize(
    "settings",
    [
        {"precision": "bf16"},
        {"precision": "fp16"},
        {"precision": "fp32", "channels_last": True},
        {"precision": "bf16", "channels_last": True},
    ],
    ids=["bf16", "fp16", "fp32-channels-last", "bf16-channels-last"],
)
def test_mixed_precision_and_channels_last_steps_agree_with_fp32(settings):
    reference = make_trainer()
    fast = twin(reference, **settings)
    init = copy.deepcopy(reference.generator.state_dict())
    batch = pair()
    for _ in range(3):
        close_losses(reference.training_step(batch), fast.training_step(batch))
    assert drift(reference, fast, init) < 0.5
    assert fast.optimizer_g.defaults.get("fused") == (settings["precision"] != "fp32")
    if settings["precision"] == "fp16":
        assert fast.scaler.is_enabled() and fast.scaler.get_scale() > 0
    if settings.get("channels_last"):
        weight = fast.generator.encoder[1].conv.weight
        assert weight.is_contiguous(memory_format=torch.channels_last)


def test_fp16_gradient_scaler_skips_an_overflowing_step_and_recovers():
    trainer = make_trainer(precision="fp16")
    trainer.training_step(pair())
    scale = trainer.scaler.get_scale()
    before = {k: v.clone() for k, v in trainer.generator.named_parameters()}
    huge = pair()
    huge["source"] = huge["source"] * 1e5  # the first convolution overflows fp16 (max 65504)
    trainer.training_step(huge)
    assert trainer.scaler.get_scale() < scale  # the scaler found inf gradients and backed off
    for name, value in trainer.generator.named_parameters():  # and skipped G's update
        assert torch.equal(value, before[name]), name
    losses = trainer.training_step(pair(seed=1))
    assert all(torch.isfinite(v) for v in losses.values())


def test_compiled_fast_path_on_cuda_agrees_with_fp32():
    reference = make_trainer()
    fast = twin(reference, precision="bf16", channels_last=True, compile=True)
    init = copy.deepcopy(reference.generator.state_dict())
    batch = pair()
    for _ in range(3):
        close_losses(reference.training_step(batch), fast.training_step(batch))
    assert drift(reference, fast, init) < 0.5
    assert fast.optimizer_g.defaults.get("fused")
    assert type(fast.g_train).__name__ == "OptimizedModule"


def test_ema_on_cuda_follows_its_update_rule():
    trainer = make_trainer(ema_decay=0.9)
    trainer.setup()
    start = {k: v.clone() for k, v in trainer.ema.module.state_dict().items()}
    trainer.training_step(pair())
    ema = trainer.ema.module.state_dict()
    for name, value in trainer.generator.state_dict().items():
        if value.is_floating_point() and "running" not in name:
            assert ema[name].device.type == "cuda"
            want = 0.9 * start[name] + 0.1 * value
            torch.testing.assert_close(ema[name], want, rtol=1e-5, atol=1e-6)


def resume_run(tmp_path: Path, name: str, resume_from: str | None = None, **changes) -> Trainer:
    g, d = tiny_models(num_downs=6)
    data = make_data(5, size=64)
    values = dict(
        device="cuda",
        epochs=2,
        epochs_decay=1,
        output_dir=str(tmp_path / name),
        ema_decay=0.9,
        checkpoint_every=2,
        keep_checkpoints=0,
        seed=3,
    )
    values.update(changes)
    trainer = Trainer(g, d, tiny_config(tmp_path, **values), data)
    trainer.fit(resume_from=resume_from)
    return trainer


def test_resume_on_cuda_is_bit_exact_in_fp32(tmp_path, deterministic_cudnn):
    full = resume_run(tmp_path, "full")
    first = resume_run(tmp_path, "split", max_steps=4)
    assert first.step == 4
    resumed = resume_run(tmp_path, "split", resume_from="latest")
    assert resumed.step == full.step == 9
    assert next(resumed.generator.parameters()).device.type == "cuda"
    assert_same_state(resumed.generator, full.generator)
    assert_same_state(resumed.discriminator, full.discriminator)
    assert_same_state(resumed.ema.module, full.ema.module)


def test_fit_on_cuda_with_loader_workers(tmp_path):
    g, d = tiny_models()
    config = tiny_config(tmp_path, device="cuda", num_workers=2, max_steps=3)
    trainer = Trainer(g, d, config, make_data(6))
    final = trainer.fit()
    assert trainer.step == 3 and final is not None and (final / "model.safetensors").is_file()


# ===================================================================== inference
@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNetGenerator(base_channels=8, num_downs=6).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_translator_fp32_on_cuda_matches_the_cpu(unet, images):
    want = Translator(copy.deepcopy(unet), device="cpu")(images)
    translator = Translator(copy.deepcopy(unet), device="cuda")
    got = translator(images)
    assert got.device.type == "cpu" and got.dtype == torch.float32  # given back like the input
    assert next(translator.generator.parameters()).device.type == "cuda"
    torch.testing.assert_close(got, want, atol=TF32_ATOL, rtol=0)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_translator_half_precision_on_cuda_is_close_to_fp32(unet, images, dtype):
    want = Translator(copy.deepcopy(unet), device="cuda")(images)
    got = Translator(copy.deepcopy(unet), device="cuda", dtype=dtype)(images)
    assert got.dtype == torch.float32
    diff = (got - want).abs()
    assert diff.max() < 0.15 and diff.mean() < 0.02


def test_translator_tiled_on_cuda_matches_the_cpu(unet):
    big = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(2)) * 2 - 1
    want = Translator(copy.deepcopy(unet), device="cpu")(big, tile=64, tile_overlap=16)
    got = Translator(copy.deepcopy(unet), device="cuda")(big, tile=64, tile_overlap=16)
    assert got.shape == big.shape
    torch.testing.assert_close(got, want, atol=TF32_ATOL, rtol=0)


@pytest.mark.parametrize("dtype", [None, "bf16"])
def test_compiled_translator_on_cuda_matches_eager(unet, images, dtype):
    eager = Translator(copy.deepcopy(unet), device="cuda", dtype=dtype)(images)
    compiled = Translator(copy.deepcopy(unet), device="cuda", dtype=dtype, compile=True)
    got = compiled(images)
    atol = TF32_ATOL if dtype is None else 0.1
    torch.testing.assert_close(got, eager, atol=atol, rtol=0)
    torch.testing.assert_close(compiled(images), got)  # the second call reuses the graph


def test_stochastic_translation_on_cuda_is_seeded(unet, images):
    translator = Translator(copy.deepcopy(unet), device="cuda")
    a = translator(images, stochastic=True, seed=5)
    b = translator(images, stochastic=True, seed=5)
    c = translator(images, stochastic=True, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_torchscript_export_from_a_cuda_model(tmp_path, unet, images):
    from pix2pix.export import export_model

    model = copy.deepcopy(unet).cuda()
    path = export_model(model, tmp_path / "g.pt", format="torchscript", size=64)
    assert next(model.parameters()).device.type == "cuda"  # the caller's model is left alone
    loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        want = unet(images)
        got = loaded(images)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_onnx_export_from_a_cuda_model(tmp_path, unet, images):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from pix2pix.export import export_model

    path = export_model(copy.deepcopy(unet).cuda(), tmp_path / "g.onnx", format="onnx", size=64)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = torch.from_numpy(session.run(None, {name: images.numpy()})[0])
    with torch.no_grad():
        want = unet(images)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


# ===================================================================== distributed
NCCL_WORKER = textwrap.dedent(
    """
    import copy, sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    sys.path.insert(0, sys.argv[2])
    from helpers import make_data, tiny_config, tiny_models
    from pix2pix.trainer import Trainer

    out = sys.argv[1]
    dist.init_process_group("nccl", init_method=f"file://{out}/store", rank=0, world_size=1)
    torch.cuda.set_device(0)
    assert dist.get_backend() == "nccl"

    # DDP over NCCL: one rank's averaged gradients are its own gradients, exactly
    g, _ = tiny_models(dropout=0.0)
    g = g.cuda()
    plain = copy.deepcopy(g)
    ddp = DistributedDataParallel(g, device_ids=[0])
    x = torch.rand(2, 3, 32, 32, device="cuda") * 2 - 1
    ddp(x).square().mean().backward()
    plain(x).square().mean().backward()
    for a, b in zip(g.parameters(), plain.parameters()):
        assert torch.equal(a.grad, b.grad)

    # SyncBatchNorm on CUDA: a world of one normalises like batch norm
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain)).cuda().train()
    torch.testing.assert_close(sync(x), plain.train()(x), atol=1e-5, rtol=1e-5)

    # the trainer inside an NCCL group it did not create, with SyncBatchNorm asked for
    g, d = tiny_models()
    config = tiny_config(
        __import__("pathlib").Path(out), device="cuda", sync_batchnorm=True, max_steps=2
    )
    trainer = Trainer(g, d, config, make_data(4))
    assert trainer.fit() is not None and trainer.step == 2
    assert trainer.context.world_size == 1
    dist.barrier()
    dist.destroy_process_group()
    print("NCCL OK")
    """
)


def test_ddp_over_nccl_as_a_world_of_one(tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_nccl_available():
        pytest.skip("NCCL is not available in this torch build")
    script = tmp_path / "worker.py"
    script.write_text(NCCL_WORKER)
    tests = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), tests],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0 and "NCCL OK" in proc.stdout, proc.stderr[-3000:]
