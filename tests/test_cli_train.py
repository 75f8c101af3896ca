"""``pix2pix train`` (fresh, --config layering, --resume) and ``pix2pix demo`` at tiny sizes."""

import dataclasses
import json

import pytest
import torch

from pix2pix.cli import build_parser, main
from pix2pix.data import SyntheticPairs
from pix2pix.models import load_pretrained
from pix2pix.trainer import TrainerConfig
from pix2pix.trainer import checkpoint as ckpt

from helpers import recorded_config

TINY = [
    "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
    "--discriminator", "patchgan", "--n-layers-d", "2", "--disc-channels", "4",
    "--preprocess", "resize_and_crop", "--load-size", "36", "--crop-size", "32",
    "--batch-size", "2", "--device", "cpu", "--no-progress-bar", "--log-every", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    SyntheticPairs(6, size=32, seed=0).write(root / "train")  # A = photo | B = labels
    SyntheticPairs(2, size=32, seed=1).write(root / "val")
    return root


def test_train_then_resume(dataset, tmp_path):
    run = tmp_path / "runs" / "tiny"
    code = main(
        ["train", "--data", str(dataset / "train"), "--val-data", str(dataset / "val"),
         "--direction", "BtoA", "--output", str(run), "--max-steps", "3",
         "--checkpoint-every", "2", "--val-every", "3", *TINY]
    )  # fmt: skip
    assert code == 0
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-000002", "step-000003"]
    config = json.loads((run / "final" / "config.json").read_text())
    assert config["num_downs"] == 5 and config["base_channels"] == 4
    assert config["inference"]["direction"] == "BtoA"
    assert config["inference"]["crop_size"] == 32
    saved = recorded_config(run)
    assert (saved.max_steps, saved.batch_size, saved.direction) == (3, 2, "BtoA")
    assert any('"val/SSIM"' in line for line in (run / "metrics.jsonl").open())

    # --resume alone finds data, models and settings in the run folder; a flag extends it
    assert main(["train", "--resume", str(run), "--max-steps", "5"]) == 0
    state = torch.load(ckpt.list_checkpoints(run)[-1] / "trainer_state.pt", weights_only=True)
    assert state["step"] == 5
    assert recorded_config(run).max_steps == 5
    assert load_pretrained(run / "final").config["num_downs"] == 5


def test_config_file_is_layered_under_flags(dataset, tmp_path):
    cfg = TrainerConfig(max_steps=2, lr=1e-3, gan_mode="lsgan", output_dir=str(tmp_path / "a"))
    cfg.save(tmp_path / "cfg.json")
    code = main(
        ["train", "--data", str(dataset / "train"), "--direction", "BtoA",
         "--config", str(tmp_path / "cfg.json"), "--lr", "5e-4", *TINY]
    )  # fmt: skip
    assert code == 0
    saved = recorded_config(tmp_path / "a")
    assert (saved.max_steps, saved.gan_mode, saved.lr, saved.batch_size) == (2, "lsgan", 5e-4, 2)


def test_every_config_field_has_a_flag():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    dests = {action.dest for action in train._actions}
    for field in dataclasses.fields(TrainerConfig):
        assert f"cfg_{field.name}" in dests, field.name
    args = parser.parse_args(["train", "--ema-decay", "none", "--max-steps", "7", "--no-shuffle"])
    assert (args.cfg_ema_decay, args.cfg_max_steps, args.cfg_shuffle) == (None, 7, False)
    assert "cfg_lr" not in vars(args)  # unset flags do not override --config


def test_user_errors_are_one_line(dataset, tmp_path, capsys):
    assert main(["train", "--data", str(dataset / "train"), "--output", str(tmp_path / "r"),
                 "--lambda-l1", "-1"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "lambda_l1=-1.0" in err and "Traceback" not in err and err.count("\n") == 1
    assert main(["train", "--output", str(tmp_path / "r")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["train", "--data", str(dataset / "train"), "--output", str(tmp_path / "r"),
                 "--crop-size", "100"]) == 2  # fmt: skip
    assert "crop_size=100 is not a multiple of 256" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    for bad in (["--lr", "fast"], ["--gan-mode", "wgan"]):
        with pytest.raises(SystemExit):
            main(["train", *bad])
        assert "invalid" in capsys.readouterr().err


def test_demo_smoke(tmp_path):
    out = tmp_path / "demo"
    code = main(
        ["demo", "--output", str(out), "--steps", "3", "--size", "32", "--width", "4",
         "--batch-size", "2", "--train-pairs", "4", "--test-pairs", "2", "--device", "cpu",
         "--no-progress"]
    )  # fmt: skip
    assert code == 0
    results = json.loads((out / "metrics.json").read_text())
    assert set(results["trained"]) == set(results["untrained"]) == {"L1", "PSNR", "SSIM"}
    assert results["steps"] == 3 and results["test_pairs"] == 2
    from PIL import Image

    picture = Image.open(out / "demo.png").convert("L")
    # 32 px tiles shown at 256 px (issue 27: 64 px tiles were too small to judge), and a header
    assert picture.size == (3 * 256 + 4 * 2, 2 * 256 + 3 * 2 + 14)
    assert min(picture.crop((0, 0, picture.width, 14)).getdata()) < 100  # the column names
    inference = json.loads((out / "run" / "final" / "config.json").read_text())["inference"]
    assert inference["direction"] == "BtoA" and inference["crop_size"] == 32


def test_demo_rejects_sizes_it_cannot_build(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path), "--size", "48"]) == 2
    assert "power of two" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_learns(tmp_path):
    # the README's command at its defaults: the trained model must beat the untrained one
    assert main(["demo", "--output", str(tmp_path / "demo"), "--no-progress"]) == 0
    results = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert results["trained"]["L1"] < 0.5 * results["untrained"]["L1"]
    assert results["trained"]["SSIM"] > 0.5


def test_preset_sets_trainer_fields_and_discriminator_options_under_flags(dataset, tmp_path):
    run = tmp_path / "sn"
    code = main(
        ["train", "--data", str(dataset / "train"), "--output", str(run), "--max-steps", "1",
         "--preset", "hinge-sn", "--lr", "3e-4", *TINY]
    )  # fmt: skip
    assert code == 0
    saved = recorded_config(run)
    assert (saved.gan_mode, saved.lr, saved.ema_decay) == ("hinge", 3e-4, None)  # flag wins
    latest = ckpt.list_checkpoints(run)[-1]
    assert json.loads((latest / "discriminator" / "config.json").read_text())["spectral_norm"]

    args = build_parser().parse_args(["train", "--preset", "lsgan-ema", "--gan-mode", "vanilla"])
    from pix2pix.cli.train import config_from_args

    config = config_from_args(args)
    assert (config.gan_mode, config.ema_decay) == ("vanilla", 0.995)


def test_preset_errors_are_one_line(dataset, tmp_path, capsys):
    (tmp_path / "cfg.json").write_text(json.dumps(dataclasses.asdict(TrainerConfig())))
    base = ["train", "--data", str(dataset / "train"), "--output", str(tmp_path / "x"), *TINY]
    assert main([*base, "--preset", "ttur", "--config", str(tmp_path / "cfg.json")]) != 0
    assert "--preset ttur and --config" in capsys.readouterr().err
    assert main([*base, "--preset", "hinge-sn", "--discriminator", "pixel"]) != 0
    err = capsys.readouterr().err
    assert "--n-layers-d does not apply to the pixel discriminator" in err
    assert err.count("\n") == 1


def test_a_model_named_over_a_preset_says_what_it_replaces(capsys):
    from pix2pix.cli.train import build_discriminator

    args = build_parser().parse_args(
        ["train", "--preset", "lsgan-ema-msd", "--discriminator", "patchgan"]
    )
    assert type(build_discriminator(args, 6)).__name__ == "PatchGANDiscriminator"
    out = capsys.readouterr().out
    assert "--discriminator patchgan replaces --preset lsgan-ema-msd's multiscale" in out
    assert "num_d=3" in out  # a preset setting is never dropped silently


def test_progress_bars_end_full_and_nothing_is_drawn_after_done(dataset, tmp_path):
    """Issue 27: the check-data bar stopped at 5/6, and the train bar was drawn again after
    "Done"."""
    import subprocess
    import sys

    run = tmp_path / "run"
    args = ["--data", str(dataset / "train"), "--output", str(run), "--max-steps", "3",
            *[a for a in TINY if a != "--no-progress-bar"]]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pix2pix", "train", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert "check-data: 100%" in text and "6/6" in text
    assert "train: 100%" in text and "3/3" in text
    assert "step" not in text.split("Done. Translate with")[1]  # no bar after the last line
