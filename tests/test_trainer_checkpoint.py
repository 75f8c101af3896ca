"""Checkpoints: bit-exact resume, atomic saves, pruning, NaN stops and Ctrl-C."""

import json
import signal

import pytest
import torch

from pix2pix.models import load_pretrained
from pix2pix.trainer import Callback, NonFiniteLossError, Trainer
from pix2pix.trainer import checkpoint as ckpt

from helpers import assert_same_state, make_data, tiny_config, tiny_models


def resume_config(tmp_path, name, **changes):
    # 5 items, batch 2: three batches an epoch, the last one short; dropout, EMA, shuffling,
    # validation and sample grids all draw random numbers or touch state
    values = dict(
        epochs=2,
        epochs_decay=1,
        output_dir=str(tmp_path / name),
        ema_decay=0.9,
        ema_warmup=True,  # resuming must restore the count the warm-up reads
        val_every=2,
        sample_every=3,
        num_samples=2,
        checkpoint_every=2,
        keep_checkpoints=0,
        seed=3,
    )
    values.update(changes)
    return tiny_config(tmp_path, **values)


def run(tmp_path, name, resume_from=None, callbacks=(), **changes):
    g, d = tiny_models(num_downs=6)
    data, val = make_data(5, size=64), make_data(2, size=64, seed=9)
    trainer = Trainer(g, d, resume_config(tmp_path, name, **changes), data, val, callbacks)
    trainer.fit(resume_from=resume_from)
    return trainer


def assert_same_run(a, b):
    assert (a.step, a.epoch, a.batch_in_epoch) == (b.step, b.epoch, b.batch_in_epoch)
    assert_same_state(a.generator, b.generator)
    assert_same_state(a.discriminator, b.discriminator)
    assert_same_state(a.ema.module, b.ema.module)
    for name in ("optimizer_g", "optimizer_d"):
        sa, sb = getattr(a, name).state_dict()["state"], getattr(b, name).state_dict()["state"]
        for key in sa:
            assert all(torch.equal(sa[key][k], sb[key][k]) for k in sa[key])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return run(tmp_path_factory.mktemp("full"), "full")


@pytest.mark.parametrize(
    "stop, position",
    [(4, (1, 1)), (3, (0, 3))],  # one batch into epoch 1; after epoch 0's short last batch
)
def test_resume_after_max_steps_is_bit_exact(tmp_path, uninterrupted, stop, position):
    first = run(tmp_path, "split", max_steps=stop)
    assert (first.step, (first.epoch, first.batch_in_epoch)) == (stop, position)
    assert ckpt.list_checkpoints(tmp_path / "split")[-1].name == f"step-{stop:06d}"
    resumed = run(tmp_path, "split", resume_from="latest")
    assert resumed.step == 9
    assert_same_run(resumed, uninterrupted)


def test_resume_after_a_callback_exception_is_bit_exact(tmp_path, uninterrupted):
    class Crash(Callback):
        def on_validation_end(self, trainer, metrics):
            if trainer.step == 6:  # after step 6 was logged, before its checkpoint
                raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path, "crash", callbacks=[Crash()])
    # the newest checkpoint is step 4; steps 5.. are redone
    resumed = run(tmp_path, "crash", resume_from=tmp_path / "crash")
    assert_same_run(resumed, uninterrupted)
    # metrics.jsonl lost the records of the redone steps: each step is logged once
    records = [json.loads(line) for line in (tmp_path / "crash/metrics.jsonl").open()]
    train_steps = [r["step"] for r in records if "G_L1" in r]
    assert train_steps == list(range(1, 10))
    assert [r["step"] for r in records if "val/L1" in r] == [2, 4, 6, 8, 9]  # and the last step


def test_resume_would_differ_without_restoring_rng(tmp_path, uninterrupted, monkeypatch):
    # guards the test above against passing vacuously: dropout masks depend on the RNG
    run(tmp_path, "norng", max_steps=4)
    monkeypatch.setattr("pix2pix.trainer.state.restore_rng_state", lambda state: None)
    resumed = run(tmp_path, "norng", resume_from="latest")
    sa, sb = resumed.generator.state_dict(), uninterrupted.generator.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_contents_and_safe_loading(tmp_path, uninterrupted):
    folder = ckpt.list_checkpoints(uninterrupted.config.output_dir)[-1]
    assert folder.name == "step-000009"
    assert {p.name for p in folder.iterdir()} == {
        "generator",
        "discriminator",
        "ema",
        "trainer_state.pt",
        "run_config.json",
        "checkpoint.json",
    }
    state = torch.load(folder / "trainer_state.pt", weights_only=True)
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (9, 3, 0)
    assert set(state["rng"][0]) == {"torch", "cuda", "numpy", "python"}
    assert load_pretrained(folder / "generator").config["num_downs"] == 6
    # the export is the EMA generator with inference settings
    final = load_pretrained(folder.parents[1] / "final")
    assert_same_state(final, uninterrupted.ema.module)
    config = json.loads((folder.parents[1] / "final" / "config.json").read_text())
    # a list of tensors does not describe its direction or resizing, and the config states
    # none: the export records only what is known
    facts = ("direction", "preprocess", "load_size", "crop_size", "in_channels", "out_channels")
    assert {k: v for k, v in config["inference"].items() if k in facts} == {
        "in_channels": 3,
        "out_channels": 3,
    }
    samples = sorted(p.name for p in (folder.parents[1] / "samples").iterdir())
    assert samples == ["step-000003.png", "step-000006.png", "step-000009.png"]


def test_unsafe_trainer_state_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "trainer_state.pt"
    torch.save({"format": 1, "payload": Evil()}, path)
    with pytest.raises(ValueError, match="Could not read"):
        ckpt.load_state(path)


def test_keep_checkpoints_prunes_old_ones(tmp_path):
    config = tiny_config(tmp_path, checkpoint_every=1, keep_checkpoints=2)
    Trainer(*tiny_models(), config, make_data(6)).fit()
    names = [p.name for p in ckpt.list_checkpoints(tmp_path / "run")]
    assert names == ["step-000005", "step-000006"]


def test_resume_latest_without_checkpoints_names_the_folder(tmp_path):
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path), make_data(2))
    with pytest.raises(FileNotFoundError, match="No checkpoint to resume from in .*checkpoints"):
        trainer.fit(resume_from="latest")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        trainer.fit(resume_from=tmp_path / "nowhere")


def test_a_failed_save_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, checkpoint_every=2, keep_checkpoints=1)
    trainer = Trainer(*tiny_models(), config, make_data(6))
    real_save_state = ckpt.layout.save_state

    def crash_at_step_4(path, state):
        if state["step"] == 4:
            # the models are already written into the temporary folder at this point
            assert (path.parent / "generator" / "model.safetensors").is_file()
            raise OSError("disk full (simulated)")
        real_save_state(path, state)

    monkeypatch.setattr(ckpt.layout, "save_state", crash_at_step_4)
    with pytest.raises(OSError, match="disk full"):
        trainer.fit()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-000002"]
    leftovers = [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()]
    assert leftovers == ["step-000002"]  # no half-written folder remains
    monkeypatch.undo()
    resumed = Trainer(*tiny_models(), config, make_data(6))
    resumed.fit(resume_from="latest")  # step-000002 is intact
    assert resumed.step == 6


def test_nan_loss_stops_with_step_and_name_and_keeps_the_good_checkpoint(tmp_path):
    class PoisonAtStep3(Trainer):
        def generator_loss(self, source, target, fake):
            loss, logs = super().generator_loss(source, target, fake)
            if self.step + 1 == 3:
                logs["G_L1"] = logs["G_L1"] * float("nan")
            return loss, logs

    config = tiny_config(tmp_path, checkpoint_every=2, log_every=10)
    trainer = PoisonAtStep3(*tiny_models(), config, make_data(8))
    with pytest.raises(NonFiniteLossError, match=r"Loss G_L1 is nan at step 3") as info:
        trainer.fit()
    assert isinstance(info.value, FloatingPointError) and isinstance(info.value, RuntimeError)
    assert "step-000002" in str(info.value)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-000002"]
    assert not (tmp_path / "run" / "final").exists()


def test_nan_in_the_weights_is_caught_too(tmp_path):
    class PoisonWeights(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 1:
                with torch.no_grad():
                    next(trainer.generator.parameters()).fill_(float("inf"))

    trainer = Trainer(
        *tiny_models(), tiny_config(tmp_path), make_data(6), callbacks=[PoisonWeights()]
    )
    # the weights are checked at the log cadence (log_every=1): found at step 1, before any
    # loss of step 2 turns NaN; NonFiniteWeightError is a NonFiniteLossError
    with pytest.raises(NonFiniteLossError, match="at step 1"):
        trainer.fit()


def test_keyboard_interrupt_writes_a_checkpoint_and_returns(tmp_path):
    class CtrlC(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 2:
                raise KeyboardInterrupt

    trainer = Trainer(*tiny_models(), tiny_config(tmp_path), make_data(6), callbacks=[CtrlC()])
    assert trainer.fit() is None
    assert trainer.interrupted
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-000002"]
    assert not (tmp_path / "run" / "final").exists()


def test_sigint_finishes_the_step_then_checkpoints(tmp_path):
    class SendSigint(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 3:
                signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path), make_data(8), callbacks=[SendSigint()])
    assert trainer.fit() is None and trainer.interrupted and trainer.step == 3
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-000003"]
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    trainer2 = Trainer(*tiny_models(), tiny_config(tmp_path), make_data(8))
    trainer2.fit(resume_from="latest")
    assert trainer2.step == 8 and not trainer2.interrupted


def test_write_atomically_replaces_an_existing_folder(tmp_path):
    target = tmp_path / "checkpoints" / "step-000001"
    ckpt.layout.write_atomically(target, lambda tmp: (tmp / "a.txt").write_text("old"))
    ckpt.layout.write_atomically(target, lambda tmp: (tmp / "a.txt").write_text("new"))
    assert (target / "a.txt").read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["step-000001"]


def test_resume_with_another_data_order_restarts_the_epoch(tmp_path, caplog):
    config = tiny_config(tmp_path, max_steps=2)
    Trainer(*tiny_models(), config, make_data(6)).fit()  # epoch 0, 2 of 3 batches done
    trainer = Trainer(*tiny_models(), config.replace(batch_size=3, max_steps=3), make_data(6))
    with caplog.at_level("WARNING"):
        trainer.load_checkpoint(ckpt.resolve_checkpoint("latest", tmp_path / "run"))
    assert "batch_size changed" in caplog.text
    assert (trainer.step, trainer.epoch, trainer.batch_in_epoch) == (2, 0, 0)
