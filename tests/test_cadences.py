"""A short run records what a long one does (issue 22.4): cadences that scale with the run's
length when none is given, and logs, a validation and a sample grid at the last step."""

import json

from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer.loop import Cadences

from helpers import make_data, tiny_models


def _config(tmp_path, **changes):
    # the defaults of every cadence: nothing given
    values = dict(device="cpu", progress_bar=False, output_dir=str(tmp_path / "run"), batch_size=2)
    return TrainerConfig(**{**values, **changes})


def _records(tmp_path):
    return [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]


def test_default_cadences_scale_with_the_run():
    config = TrainerConfig()
    assert Cadences.of(config, 80_000) == Cadences(log=100, sample=1000, val=1000, checkpoint=1000)
    assert Cadences.of(config, 20) == Cadences(log=1, sample=2, val=2, checkpoint=4)
    assert Cadences.of(config, 3) == Cadences(log=1, sample=1, val=1, checkpoint=1)
    given = TrainerConfig(log_every=7, sample_every=0, val_every=5, checkpoint_every=0)
    assert Cadences.of(given, 20) == Cadences(log=7, sample=0, val=5, checkpoint=0)


def test_a_20_step_run_draws_its_curves_and_shows_pictures(tmp_path):
    config = _config(tmp_path, max_steps=20)
    Trainer(*tiny_models(), config, make_data(6), val_data=make_data(2, seed=1)).fit()
    records = _records(tmp_path)
    assert [r["step"] for r in records if "G_L1" in r] == list(range(1, 21))
    assert [r["step"] for r in records if "val/L1" in r] == list(range(2, 21, 2))
    samples = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert samples == [f"step-{s:06d}.png" for s in range(2, 21, 2)]
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert checkpoints == ["step-000012", "step-000016", "step-000020"]  # every 4, keep 3


def test_the_last_step_always_validates_logs_and_samples(tmp_path):
    config = _config(tmp_path, max_steps=10, log_every=4, val_every=7, sample_every=6,
                     checkpoint_every=0)  # fmt: skip
    Trainer(*tiny_models(), config, make_data(6), val_data=make_data(2, seed=1)).fit()
    records = _records(tmp_path)
    losses = [r for r in records if "G_L1" in r]
    assert [r["step"] for r in losses] == [4, 8, 10]
    assert [r["window"] for r in losses] == [4, 4, 2]  # the last mean covers 2 steps, and says so
    assert [r["step"] for r in records if "val/L1" in r] == [7, 10]
    samples = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert samples == ["step-000006.png", "step-000010.png"]


def test_an_interrupted_window_says_how_many_steps_it_covers(tmp_path):
    from pix2pix.trainer import Callback

    class StopAt3(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 3:
                trainer.interrupts.requested = True  # as a Ctrl-C does

    config = _config(tmp_path, max_steps=20, log_every=10)
    trainer = Trainer(*tiny_models(), config, make_data(6), callbacks=[StopAt3()])
    assert trainer.fit() is None and trainer.interrupted
    losses = [r for r in _records(tmp_path) if "G_L1" in r]
    assert [(r["step"], r["window"]) for r in losses] == [(3, 3)]
