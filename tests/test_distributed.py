"""Two gloo processes on the CPU, started like torchrun starts them (RANK, WORLD_SIZE, ...).

With instance norm and no dropout each sample's gradient is independent of the others, so
DDP with 2 x batch 2 must match one process with batch 4 up to the order of the all-reduce sum.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from pix2pix.models import load_pretrained
from pix2pix.trainer import Trainer
from pix2pix.trainer.distributed import setup_distributed

from helpers import assert_same_state, make_data, tiny_config, tiny_models

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, sys.argv[2])  # the tests folder, for tests/helpers.py
    from helpers import make_data, tiny_config, tiny_models

    import signal

    from pix2pix.trainer import Callback, Trainer
    from pix2pix.trainer.distributed import cleanup_distributed

    out = Path(sys.argv[1])

    def run(name, resume_from=None, **changes):
        g, d = tiny_models(norm="instance", dropout=0.0)
        config = tiny_config(out, output_dir=str(out / name), checkpoint_every=2, **changes)
        trainer = Trainer(g, d, config, train_data=make_data(8))
        trainer.fit(resume_from=resume_from)
        return trainer

    full = run("ddp")  # 8 items / 2 ranks / batch 2: 2 steps per epoch, 2 epochs
    assert full.context.world_size == 2 and full.step == 4
    run("ddp_split", max_steps=3)  # stops mid-epoch
    resumed = run("ddp_split", resume_from="latest")
    assert resumed.step == 4

    class CtrlCOnRankOne(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 1 and trainer.context.rank == 1:
                signal.raise_signal(signal.SIGINT)

    # only rank 1 sees Ctrl-C; both ranks stop together at the next log step and checkpoint
    g, d = tiny_models(norm="instance", dropout=0.0)
    config = tiny_config(out, output_dir=str(out / "ddp_stop"), log_every=2)
    trainer = Trainer(g, d, config, make_data(8), callbacks=[CtrlCOnRankOne()])
    assert trainer.fit() is None and trainer.interrupted and trainer.step == 2
    cleanup_distributed()
    """
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    script = out / "worker.py"
    script.write_text(WORKER)
    port = free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "2",
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(out), str(Path(__file__).parent)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=180)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("DDP workers timed out")
    for rank, (proc, text) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{text[-3000:]}"
    return out


def biases_cancelled_by_instance_norm(model):
    """A bias right before instance norm has zero gradient in exact arithmetic; Adam divides the
    rounding noise by its own magnitude, so these move by about lr in an arbitrary direction and
    the maths says nothing about them matching."""
    return {
        f"{name}.conv.bias"
        for name, module in model.named_modules()
        if isinstance(getattr(module, "norm", None), torch.nn.InstanceNorm2d)
        and getattr(module.conv, "bias", None) is not None
    }


def test_ddp_matches_a_single_process_with_the_global_batch(ddp_run, tmp_path):
    g, d = tiny_models(norm="instance", dropout=0.0)
    config = tiny_config(tmp_path, batch_size=4, checkpoint_every=0)
    Trainer(g, d, config, train_data=make_data(8)).fit()
    ddp_g = load_pretrained(ddp_run / "ddp" / "final")
    ddp_d = load_pretrained(ddp_run / "ddp" / "checkpoints" / "step-000004" / "discriminator")
    compared = 0
    for ours, theirs in ((g, ddp_g), (d, ddp_d)):
        cancelled = biases_cancelled_by_instance_norm(ours)
        for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            if name not in cancelled:
                torch.testing.assert_close(b, a, rtol=0, atol=1e-5, msg=name)
                compared += 1
    assert compared >= 19  # every weight, and the biases without a following norm
    # and training moved the weights well beyond that tolerance
    fresh, _ = tiny_models(norm="instance", dropout=0.0)
    moved = max((a - b).abs().max().item() for a, b in zip(g.parameters(), fresh.parameters()))
    assert moved > 1e-4


def test_ddp_resume_is_exact(ddp_run):
    a = load_pretrained(ddp_run / "ddp" / "final")
    b = load_pretrained(ddp_run / "ddp_split" / "final")
    assert_same_state(a, b)
    names = sorted(p.name for p in (ddp_run / "ddp_split" / "checkpoints").iterdir())
    assert names == ["step-000002", "step-000003", "step-000004"]


def test_only_rank_zero_writes_logs(ddp_run):
    lines = (ddp_run / "ddp" / "metrics.jsonl").read_text().splitlines()
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in lines]
    assert steps == [1, 2, 3, 4]  # one writer: no duplicated records
    assert '"img_per_s"' in lines[0]


def test_an_interrupt_on_one_rank_stops_all_ranks_at_the_same_step(ddp_run):
    names = [p.name for p in (ddp_run / "ddp_stop" / "checkpoints").iterdir()]
    assert names == ["step-000002"]
    assert not (ddp_run / "ddp_stop" / "final").exists()


def test_single_process_context_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = setup_distributed("cpu")
    assert (context.rank, context.world_size, context.is_main) == (0, 1, True)
    assert context.device == torch.device("cpu")
