"""The CUDA paths, run for real on a GPU (marker ``cuda``; every test skips without CUDA).

Run: ``python -m pytest -m cuda tests/test_cuda.py`` (two to three minutes on an H100/H200:
tiny models, 32-64 px). Speed is measured by ``benchmarks/gpu_suite.py``, never here.

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
* CUDA graphs (``cuda_graphs=True``): a replayed step runs the kernels an eager run of the same
  code runs, on the same tensors, so with deterministic cuDNN it is bit-exact against that eager
  run (fp32 and bf16), and a graphed run resumed in the middle is bit-exact too. Against the
  default eager fp32 step, which uses PyTorch's per-parameter Adam where the graph needs the
  fused kernel, the two Adam implementations round differently in the last bits, and Adam
  divides by ``|g| + eps``: a weight whose gradient is near eps (1e-8) turns a last-bit
  difference into up to ~lr, so no elementwise bound holds. The test bounds the L1 distance
  between the two runs' weights (G, D, EMA) relative to the distance they moved: below 1e-4
  with TF32 off (measured on the CPU: 2e-6 after the nine steps), where one missed step or a
  stale learning rate gives ~0.1.
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
from pix2pix.trainer import Callback, NonFiniteLossError, Trainer, TrainerConfig
from pix2pix.trainer.cuda_graphs import CudaGraphStep

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
    # Adam records fused=None when not asked for the fused kernel
    assert bool(fast.optimizer_g.defaults.get("fused")) == (settings["precision"] != "fp32")
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
    assert fast.networks.compiled


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


# ===================================================================== CUDA graphs
@pytest.fixture
def exact_fp32(deterministic_cudnn):
    """Deterministic cuDNN and no TF32: fp32 results differ only where the arithmetic does."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


GRAPH_SIZES = [2, 2, 2, 2, 1, 2, 2, 2, 1]  # full batches and partial ones (run eagerly)
HALVE_LR_AT = 5  # as the schedule does at an epoch's end: the graph is captured again


def graphed_trainer(warmup_steps: int, dropout: float = 0.5, **settings) -> Trainer:
    """A trainer on CUDA with ``cuda_graphs`` and an EMA; ``warmup_steps`` eager steps before
    the capture (a huge number: every step eager, through the same code)."""
    torch.manual_seed(0)
    g = UNetGenerator(base_channels=8, num_downs=6, dropout=dropout)
    d = PatchGANDiscriminator(base_channels=8, n_layers=2)
    values = dict(device="cuda", cuda_graphs=True, batch_size=2, ema_decay=0.9, ema_warmup=True)
    values.update(settings)
    trainer = Trainer(g, d, TrainerConfig(progress_bar=False, **values))
    trainer.setup()
    trainer.step_function = CudaGraphStep(trainer, warmup_steps=warmup_steps)
    return trainer


def run_steps(trainer: Trainer) -> list[dict[str, torch.Tensor]]:
    torch.manual_seed(1)  # the same dropout draws for every trainer (the CUDA generator too)
    logs = []
    for i, n in enumerate(GRAPH_SIZES):
        if i == HALVE_LR_AT:
            for optimizer in (trainer.optimizer_g, trainer.optimizer_d):
                for group in optimizer.param_groups:
                    group["lr"] *= 0.5
        logs.append(trainer.training_step(pair(seed=i, batch=n)))
    return logs


@pytest.mark.parametrize(
    "settings",
    [{"precision": "fp32"}, {"precision": "bf16", "channels_last": True}],
    ids=["fp32", "bf16-channels-last"],
)
def test_cuda_graph_replays_are_the_eager_steps_bit_for_bit(settings, deterministic_cudnn):
    graphed = graphed_trainer(warmup_steps=2, **settings)
    eager = graphed_trainer(warmup_steps=10**9, **settings)
    graphed_logs, eager_logs = run_steps(graphed), run_steps(eager)
    step = graphed.step_function
    assert isinstance(step, CudaGraphStep)
    # 2 warm-up + 2 partial batches eager; captured at step 3 and after the LR change
    assert (step.eager_steps, step.captures, step.replays) == (4, 2, 5)
    assert eager.step_function.replays == 0
    assert_same_state(graphed.generator, eager.generator)
    assert_same_state(graphed.discriminator, eager.discriminator)
    assert_same_state(graphed.ema.module, eager.ema.module)
    assert int(graphed.ema.num_updates) == len(GRAPH_SIZES)
    for got, want in zip(graphed_logs, eager_logs):  # each step's own losses, not the last's
        assert list(got) == list(want)
        for name in want:
            assert got[name].device.type == "cuda"
            assert torch.equal(got[name], want[name]), name
    for optimizer in (graphed.optimizer_g, graphed.optimizer_d):
        assert all(group["fused"] and not group["capturable"] for group in optimizer.param_groups)


def test_cuda_graph_step_agrees_with_the_default_fp32_step(exact_fp32):
    graphed = graphed_trainer(warmup_steps=2, dropout=0.0)
    torch.manual_seed(0)
    g = UNetGenerator(base_channels=8, num_downs=6, dropout=0.0)
    d = PatchGANDiscriminator(base_channels=8, n_layers=2)
    config = TrainerConfig(
        device="cuda", batch_size=2, ema_decay=0.9, ema_warmup=True, progress_bar=False
    )
    eager = Trainer(g, d, config)
    init = {"g": copy.deepcopy(g.state_dict()), "d": copy.deepcopy(d.state_dict())}
    graphed_logs, eager_logs = run_steps(graphed), run_steps(eager)
    assert graphed.step_function.replays == 5
    assert not eager.optimizer_g.param_groups[0]["fused"]  # the paper-exact per-parameter Adam
    for a, b, start in (
        (graphed.generator, eager.generator, init["g"]),
        (graphed.discriminator, eager.discriminator, init["d"]),
        (graphed.ema.module, eager.ema.module, init["g"]),
    ):
        moved = apart = 0.0
        for name, x in a.named_parameters():
            y = dict(b.named_parameters())[name]
            moved += (y - start[name].to(y.device)).abs().sum().item()
            apart += (x - y).abs().sum().item()
        assert apart < 1e-4 * moved, (type(a).__name__, apart / moved)
    for got, want in zip(graphed_logs, eager_logs):
        close_losses(want, got, rtol=1e-4)


def test_cuda_graph_replays_do_not_wait_for_the_device():
    trainer = graphed_trainer(warmup_steps=3, dropout=0.0, precision="bf16")
    batch = {key: value.cuda() for key, value in pair().items()}
    for _ in range(4):  # warm-up, then the capture
        trainer.training_step(batch)
    torch.cuda.set_sync_debug_mode("error")  # a host sync inside a step raises
    try:
        logs = [trainer.training_step(batch) for _ in range(3)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    step = trainer.step_function
    assert isinstance(step, CudaGraphStep) and (step.captures, step.replays) == (1, 4)
    assert all(torch.isfinite(value) for losses in logs for value in losses.values())


def graphed_run(tmp_path: Path, name: str, resume_from: str | None = None, **changes) -> Trainer:
    g, d = tiny_models(num_downs=6)
    values = dict(
        device="cuda",
        cuda_graphs=True,
        epochs=2,
        epochs_decay=2,
        output_dir=str(tmp_path / name),
        ema_decay=0.9,
        ema_warmup=True,
        checkpoint_every=3,
        keep_checkpoints=0,
        seed=3,
    )
    values.update(changes)
    # 7 pairs at batch 2: three full batches and a partial one per epoch, 16 steps
    trainer = Trainer(g, d, tiny_config(tmp_path, **values), make_data(7, size=64))
    trainer.fit(resume_from=resume_from)
    return trainer


def test_cuda_graph_resume_is_bit_exact_in_fp32(tmp_path, deterministic_cudnn):
    full = graphed_run(tmp_path, "full")
    first = graphed_run(tmp_path, "split", max_steps=6)
    assert first.step == 6
    resumed = graphed_run(tmp_path, "split", resume_from="latest")
    assert resumed.step == full.step == 16
    for trainer in (full, resumed):
        step = trainer.step_function
        assert isinstance(step, CudaGraphStep) and step.replays > 0
    assert_same_state(resumed.generator, full.generator)
    assert_same_state(resumed.discriminator, full.discriminator)
    assert_same_state(resumed.ema.module, full.ema.module)


def test_cuda_graph_fit_with_workers_validation_and_samples(tmp_path):
    g, d = tiny_models()
    config = tiny_config(
        tmp_path,
        device="cuda",
        cuda_graphs=True,
        num_workers=2,  # a pin-memory thread runs during the capture
        val_every=2,
        sample_every=2,
        checkpoint_every=4,
    )
    trainer = Trainer(g, d, config, make_data(8), val_data=make_data(2, seed=1))
    final = trainer.fit()
    assert trainer.step == 8 and final is not None and (final / "model.safetensors").is_file()
    step = trainer.step_function
    assert isinstance(step, CudaGraphStep) and step.replays > 0
    assert trainer.last_val_metrics and all(
        torch.isfinite(torch.tensor(v)) for v in trainer.last_val_metrics.values()
    )
    assert len(list((Path(config.output_dir) / "samples").glob("*.png"))) >= 4


def test_cuda_graph_nonfinite_loss_stops_the_run_at_the_log(tmp_path):
    class Poison(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 5:  # in place: the graph reads the same storage
                with torch.no_grad():
                    next(trainer.discriminator.parameters()).fill_(float("nan"))

    g, d = tiny_models()
    config = tiny_config(tmp_path, device="cuda", cuda_graphs=True, log_every=2)
    trainer = Trainer(g, d, config, make_data(8), callbacks=[Poison()])
    with pytest.raises(NonFiniteLossError) as error:
        trainer.fit()
    assert error.value.step == 6  # the first step on the poisoned weights, found at its log
    step = trainer.step_function
    assert isinstance(step, CudaGraphStep) and step.replays >= 3


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


def test_paper_mode_translation_on_cuda_is_seeded(unet, images):
    translator = Translator(copy.deepcopy(unet), device="cuda")
    a = translator(images, test_mode="paper", seed=5)
    b = translator(images, test_mode="paper", seed=5)
    c = translator(images, test_mode="paper", seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # each image alone, with its own statistics and the seed, as in a batch
    torch.testing.assert_close(a[:1], translator(images[:1], test_mode="paper", seed=5))


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
