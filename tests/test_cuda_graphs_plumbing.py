"""The CUDA-graph step's plumbing, without a GPU (``pix2pix.trainer.cuda_graphs``).

The config field and CLI flag, the one-line refusals, ``setup()`` choosing the step, and the
step's own bookkeeping (warm-up, static inputs, per-step loss copies, eager partial batches,
recapture on a learning-rate change or a reload, the EMA's decay and count), run on the CPU
through a fake capture whose replay runs the recorded step again. The real capture is tested
on a GPU in ``tests/test_cuda.py``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator

import pytest
import torch

from pix2pix.cli import build_parser, main
from pix2pix.data import SyntheticPairs
from pix2pix.trainer import Trainer, TrainerConfig, cuda_graphs
from pix2pix.trainer.cuda_graphs import CudaGraphStep, check_graphable, ema_update
from pix2pix.trainer.distributed import DistributedContext
from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.step import EagerStep

from helpers import assert_same_state, make_data, tiny_config, tiny_models


class FakeGraph:
    """A "graph" that replays by running the recorded step again, into the same output."""

    def __init__(self, step: Callable[[], torch.Tensor], output: torch.Tensor) -> None:
        self.step, self.output = step, output

    def replay(self) -> None:
        values = self.step()
        self.output.resize_(values.shape).copy_(values)


class FakeGraphStep(CudaGraphStep):
    """The CUDA-graph step with the capture and the side stream faked for the CPU."""

    side_stream_steps = 0
    capturable_while_recording: list[bool]

    def record(self, step: Callable[[], torch.Tensor]) -> tuple[FakeGraph, torch.Tensor]:
        groups = [g for o in self._optimizers() for g in o.param_groups]
        self.capturable_while_recording = [g["capturable"] for g in groups]
        output = torch.empty(0)  # like a capture, recording runs nothing
        return FakeGraph(step, output), output

    @contextlib.contextmanager
    def side_stream(self) -> Iterator[None]:
        self.side_stream_steps += 1
        yield


@pytest.fixture
def no_cuda(monkeypatch):
    """The CPU everywhere ("auto" resolves to it), and the step's CUDA check off."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cuda_graphs, "check_graphable", lambda trainer: None)


def graphed_trainer(tmp_path, warmup_steps=2, data=None, **changes) -> Trainer:
    """A CPU trainer set up with ``cuda_graphs=True`` (fused Adam) and the fake graph step."""
    g, d = tiny_models()
    values = dict(device="auto", cuda_graphs=True, ema_decay=0.9, ema_warmup=True)
    values.update(changes)
    trainer = Trainer(g, d, tiny_config(tmp_path, **values), data)
    trainer.setup()
    assert isinstance(trainer.step_function, CudaGraphStep)
    trainer.step_function = FakeGraphStep(trainer, warmup_steps=warmup_steps)
    return trainer


def eager_twin(trainer: Trainer, tmp_path) -> Trainer:
    """The same config (fused Adam) and initial weights, stepping with EagerStep."""
    g, d = copy.deepcopy(trainer.generator), copy.deepcopy(trainer.discriminator)
    twin = Trainer(g, d, trainer.config.replace(output_dir=str(tmp_path / "twin")))
    twin.setup()
    twin.step_function = EagerStep(twin)
    return twin


def batches(sizes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for n in sizes:
        source = torch.rand(n, 3, 32, 32, generator=gen) * 2 - 1
        yield {"source": source, "target": torch.tanh(source * 1.5).flip(-1)}


# ===================================================================== config, CLI, setup
def test_config_field_refuses_what_the_graph_cannot_run():
    assert TrainerConfig().cuda_graphs is False  # the paper-exact eager path stays the default
    assert TrainerConfig(cuda_graphs=True, device="cuda:0", precision="bf16").cuda_graphs
    with pytest.raises(ValueError, match=r"needs a CUDA device; got device='cpu'"):
        TrainerConfig(cuda_graphs=True, device="cpu")
    with pytest.raises(ValueError, match=r"not 'fp16'.*precision='bf16'"):
        TrainerConfig(cuda_graphs=True, precision="fp16")
    assert TrainerConfig.field_help()["cuda_graphs"].startswith("replay the whole step")


def test_cli_flag_sets_the_field_and_a_cpu_run_is_one_line(tmp_path, capsys):
    args = build_parser().parse_args(["train", "--cuda-graphs"])
    assert args.cfg_cuda_graphs is True
    SyntheticPairs(2, size=32, seed=0).write(tmp_path / "train")
    code = main(
        ["train", "--data", str(tmp_path / "train"), "--output", str(tmp_path / "run"),
         "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
         "--crop-size", "32", "--load-size", "32", "--device", "cpu", "--cuda-graphs"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "cuda_graphs=True needs a CUDA device; got device='cpu'" in err


def test_setup_picks_the_graph_step_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    eager = Trainer(*tiny_models(), tiny_config(tmp_path))
    eager.setup()
    assert type(eager.step_function) is EagerStep
    assert not eager.optimizer_g.param_groups[0]["fused"]  # fp32 default: per-parameter Adam

    # device "auto" on a machine without CUDA: one clear line at setup, not a silent eager run
    graphed = Trainer(*tiny_models(), tiny_config(tmp_path, device="auto", cuda_graphs=True))
    with pytest.raises(ValueError, match=r"needs a CUDA GPU, and this run trains on cpu"):
        graphed.setup()

    monkeypatch.setattr(cuda_graphs, "check_graphable", lambda trainer: None)
    graphed = Trainer(*tiny_models(), tiny_config(tmp_path, device="auto", cuda_graphs=True))
    graphed.setup()
    assert type(graphed.step_function) is CudaGraphStep
    assert graphed.optimizer_g.param_groups[0]["fused"]  # what a capture needs
    assert graphed.optimizer_d.param_groups[0]["fused"]


def test_check_graphable_refuses_ddp_and_unfused_optimizers(tmp_path):
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path))
    trainer.setup()
    trainer.device = torch.device("cuda", 0)  # only the check reads it
    with pytest.raises(ValueError, match=r"fused, capturable optimisers.*optimizer_g = Adam"):
        check_graphable(trainer)
    trainer.context = DistributedContext(world_size=2)
    with pytest.raises(ValueError, match=r"several processes \(DDP, world size 2\)"):
        check_graphable(trainer)


# ===================================================================== the step's bookkeeping
def test_ema_update_with_a_device_scalar_is_the_ema_rule():
    g, _ = tiny_models()
    ema = ExponentialMovingAverage(g, 0.99, warmup=True)
    twin = copy.deepcopy(ema)
    weight = torch.zeros(())
    for _ in range(3):
        with torch.no_grad():
            for p in g.parameters():
                p.add_(torch.randn_like(p) * 0.1)
            for b in g.buffers():
                b.add_(1)
        weight.fill_(1.0 - twin.current_decay())
        ema_update(twin, g, weight)
        twin.set_num_updates(int(twin.num_updates) + 1)
        ema.update(g)
        assert_same_state(twin.module, ema.module)  # bit for bit, buffers included


def test_graph_step_equals_the_eager_step_bit_for_bit(tmp_path, no_cuda):
    """Warm-up, capture, replays, a partial batch, an LR change: the same weights and losses."""
    graphed = graphed_trainer(tmp_path)
    eager = eager_twin(graphed, tmp_path)
    sizes = [2, 2, 2, 1, 2, 2, 2, 1, 2]  # two epochs of 7 items, the last batch partial
    runs = {}
    for name, trainer in (("graphed", graphed), ("eager", eager)):
        torch.manual_seed(1)  # the same dropout draws
        logs = []
        for i, batch in enumerate(batches(sizes)):
            if i == 4:  # as the LR schedule does at an epoch's end
                for optimizer in (trainer.optimizer_g, trainer.optimizer_d):
                    optimizer.param_groups[0]["lr"] *= 0.5
            logs.append(trainer.training_step(batch))
        runs[name] = logs
    step = graphed.step_function
    # warm-up 2 (side stream) + 2 partial batches eager; captured at step 3, again after the LR
    # change; every other full batch replayed
    assert (step.side_stream_steps, step.eager_steps, step.captures, step.replays) == (2, 4, 2, 5)
    assert step.capturable_while_recording == [True, True]
    for optimizer in (graphed.optimizer_g, graphed.optimizer_d):
        assert optimizer.param_groups[0]["capturable"] is False  # checkpoints look eager
    assert_same_state(graphed.generator, eager.generator)
    assert_same_state(graphed.discriminator, eager.discriminator)
    assert_same_state(graphed.ema.module, eager.ema.module)
    assert int(graphed.ema.num_updates) == int(eager.ema.num_updates) == len(sizes)
    assert graphed.ema.current_decay() == eager.ema.current_decay()
    for got, want in zip(runs["graphed"], runs["eager"]):
        assert list(got) == list(want)  # the same names, in the same order
        for name in want:  # each step's own values: the graph's output is copied, not aliased
            assert torch.equal(got[name], want[name]), name


def test_a_reload_drops_the_graph_and_recounts_the_ema(tmp_path, no_cuda):
    trainer = graphed_trainer(tmp_path, warmup_steps=1)
    step = trainer.step_function
    data = list(batches([2] * 4))
    for batch in data[:3]:
        trainer.training_step(batch)
    assert (step.captures, step.replays) == (1, 2)
    # what load_checkpoint does: new optimizer state objects, and the EMA's count
    for optimizer in (trainer.optimizer_g, trainer.optimizer_d):
        optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    trainer.ema.set_num_updates(10)
    trainer.training_step(data[3])
    assert (step.captures, step.replays) == (2, 3)  # captured again, not replayed stale
    assert int(trainer.ema.num_updates) == 11


def test_a_replaced_parameter_storage_recaptures(tmp_path, no_cuda):
    trainer = graphed_trainer(tmp_path, warmup_steps=0)
    step = trainer.step_function
    data = list(batches([2] * 3))
    trainer.training_step(data[0])
    trainer.training_step(data[1])
    weight = trainer.discriminator.parameters().__next__()
    weight.data = weight.data.clone()  # a new storage: a graph would still write the old one
    trainer.training_step(data[2])
    assert (step.captures, step.replays) == (2, 3)


def test_fit_and_resume_through_the_graph_step_are_bit_exact(tmp_path, no_cuda):
    data = make_data(7)

    def run(name, resume_from=None, **changes):
        trainer = graphed_trainer(
            tmp_path / name,
            data=data,
            epochs=2,
            epochs_decay=2,
            checkpoint_every=3,
            keep_checkpoints=0,
            **changes,
        )
        trainer.fit(resume_from=resume_from)
        return trainer

    full = run("full")
    assert full.step == 16 and full.step_function.replays > 0
    assert full.step_function.captures >= 3  # the LR decays at each of the last epochs
    first = run("split", max_steps=6)
    assert first.step == 6
    resumed = run("split", resume_from="latest")
    assert resumed.step == 16 and resumed.step_function.replays > 0
    assert_same_state(resumed.generator, full.generator)
    assert_same_state(resumed.discriminator, full.discriminator)
    assert_same_state(resumed.ema.module, full.ema.module)

    # a graphed run's checkpoint resumed without graphs is refused, as compile or precision is
    eager = Trainer(
        *tiny_models(),
        tiny_config(tmp_path / "split", epochs=2, epochs_decay=2, ema_decay=0.9, ema_warmup=True,
                    checkpoint_every=3, keep_checkpoints=0),
        data,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"cuda_graphs: True -> False"):
        eager.fit(resume_from="latest")
