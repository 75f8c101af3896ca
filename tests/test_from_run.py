"""A run continued from Python (issue 26): ``Trainer.from_run`` rebuilds a run from its folder,
and the checkpoint checksums (issue 23.8) stop a damaged checkpoint from resuming silently."""

import json

import pytest

from pix2pix.data import PairedImageDataset, SyntheticPairs
from pix2pix.trainer import Callback, Trainer
from pix2pix.trainer import checkpoint as ckpt

from helpers import assert_same_state, make_data, tiny_config, tiny_models


class Counter(Callback):
    pass


class MyTrainer(Trainer):
    pass


def _train(tmp_path, name, max_steps, cls=Trainer, **changes):
    config = tiny_config(tmp_path, max_steps=max_steps, checkpoint_every=1, **changes)
    config = config.replace(output_dir=str(tmp_path / name))
    trainer = cls(*tiny_models(), config, make_data(6), callbacks=[Counter()])
    trainer.fit()
    return trainer


def test_two_steps_then_from_run_equals_four_steps(tmp_path):
    whole = _train(tmp_path, "whole", 4)
    _train(tmp_path, "split", 2)
    resumed = Trainer.from_run(tmp_path / "split", make_data(6), max_steps=4)
    assert resumed.config.max_steps == 4 and resumed.resume_checkpoint.name == "step-000002"
    assert resumed.fit() == tmp_path / "split" / "final"
    assert resumed.step == 4
    assert_same_state(resumed.generator, whole.generator)
    assert_same_state(resumed.discriminator, whole.discriminator)


def test_the_record_is_written_by_fit_with_everything_that_defines_the_run(tmp_path):
    _train(tmp_path, "run", 1)
    record = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert record["format"] == 2 and record["trainer_class"] == "Trainer"
    assert record["generator"]["model_type"] == "UNetGenerator"
    assert record["discriminator"]["n_layers"] == 2
    assert record["trainer"]["max_steps"] == 1
    assert record["data"] == {"train": {"type": "list", "length": 6}, "val": None}
    assert record["callbacks"] == ["test_from_run:Counter"]
    copy = ckpt.list_checkpoints(tmp_path / "run")[-1] / "run_config.json"
    assert json.loads(copy.read_text()) == record


def test_from_run_checks_the_trainer_class_by_name_and_never_imports(tmp_path):
    _train(tmp_path, "run", 1, cls=MyTrainer)
    with pytest.raises(ValueError, match="trained by 'MyTrainer'; resume it with MyTrainer"):
        Trainer.from_run(tmp_path / "run", make_data(6), max_steps=2)
    assert type(MyTrainer.from_run(tmp_path / "run", make_data(6), max_steps=2)) is MyTrainer


def test_from_run_refuses_changes_to_what_a_step_computes(tmp_path):
    _train(tmp_path, "run", 1)
    with pytest.raises(ValueError, match=r"batch_size: 2 -> 1; lr: 0.0002 -> 0.001"):
        Trainer.from_run(tmp_path / "run", make_data(6), lr=1e-3, batch_size=1)
    with pytest.raises(ValueError, match="continues in its own folder"):
        Trainer.from_run(tmp_path / "run", make_data(6), output_dir=str(tmp_path / "else"))


def test_from_run_refuses_data_that_differs_from_the_record(tmp_path):
    config = tiny_config(tmp_path, max_steps=1, checkpoint_every=1)
    Trainer(*tiny_models(), config, SyntheticPairs(4, size=32, seed=0)).fit()
    record = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert record["data"]["train"]["seed"] == 0
    with pytest.raises(ValueError, match=r"train_data.seed: 0 -> 1"):
        Trainer.from_run(tmp_path / "run", SyntheticPairs(4, size=32, seed=1), max_steps=2)
    Trainer.from_run(tmp_path / "run", SyntheticPairs(4, size=32, seed=0), max_steps=2).fit()


def test_size_multiple_is_a_change_only_where_it_shapes_the_images(tmp_path):
    """A run the CLI trained records its generator's multiple (32 here); the same folder read
    with PairedImageDataset's default (256) is the same data unless preprocess is "none"."""
    folder = SyntheticPairs(4, size=32, seed=0).write(tmp_path / "pairs")
    for preprocess in ("resize_and_crop", "none"):
        run = tmp_path / preprocess
        config = tiny_config(tmp_path, max_steps=1, checkpoint_every=1, output_dir=str(run))
        data = PairedImageDataset(
            folder,
            direction="BtoA",
            load_size=36,
            crop_size=32,
            preprocess=preprocess,
            size_multiple=32,
        )
        Trainer(*tiny_models(), config, data).fit()
        default = PairedImageDataset(
            folder, direction="BtoA", load_size=36, crop_size=32, preprocess=preprocess
        )
        if preprocess == "none":
            with pytest.raises(ValueError, match=r"train_data.size_multiple: 32 -> 256"):
                Trainer.from_run(run, default, max_steps=2)
        else:
            Trainer.from_run(run, default, max_steps=2).fit()


def test_recorded_callbacks_are_listed_not_attached(tmp_path, caplog):
    _train(tmp_path, "run", 1)
    trainer = Trainer.from_run(tmp_path / "run", make_data(6), max_steps=2)
    assert trainer.callbacks == []
    assert "recorded callbacks that are not attached: test_from_run:Counter" in caplog.text
    assert trainer.recorded_callbacks == ["test_from_run:Counter"]  # kept in the record
    again = Trainer.from_run(tmp_path / "run", make_data(6), callbacks=[Counter()], max_steps=2)
    assert [type(c) for c in again.callbacks] == [Counter]


def test_a_bit_flip_in_a_checkpoint_is_found_on_resume(tmp_path):
    _train(tmp_path, "run", 2)
    latest = ckpt.list_checkpoints(tmp_path / "run")[-1]
    weights = latest / "generator" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit of a weight
    weights.write_bytes(bytes(data))
    trainer = Trainer.from_run(tmp_path / "run", make_data(6), max_steps=3)
    with pytest.raises(ValueError) as info:
        trainer.fit()
    message = str(info.value)
    assert str(weights) in message and "does not match the checksum" in message
    assert "resume from" in message and "step-000001" in message
    # the checkpoint before it is sound and resumes
    earlier = ckpt.list_checkpoints(tmp_path / "run")[0]
    assert Trainer.from_run(earlier, make_data(6), max_steps=3).fit() is not None


def test_a_checkpoint_position_is_read_without_loading_it(tmp_path):
    _train(tmp_path, "run", 2)
    latest = ckpt.list_checkpoints(tmp_path / "run")[-1]
    assert ckpt.read_position(latest) == {"step": 2, "epoch": 0, "batch_in_epoch": 2}
    manifest = json.loads((latest / "checkpoint.json").read_text())
    assert sorted(manifest["files"]) == [
        "discriminator/README.md",
        "discriminator/config.json",
        "discriminator/model.safetensors",
        "generator/README.md",
        "generator/config.json",
        "generator/model.safetensors",
        "run_config.json",
        "trainer_state.pt",
    ]


def test_from_run_of_a_folder_without_a_run_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no run folder"):
        Trainer.from_run(tmp_path / "empty", make_data(6))
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        Trainer.from_run(tmp_path / "missing", make_data(6))
