"""The training engine's shape (issue 25): each concern an owner with a public interface, no
module reaching into another object's private state, small files, objects as extension
points (loggers, loss terms)."""

import ast
from pathlib import Path

import pytest
import torch

import pix2pix
from pix2pix.models import MultiScaleDiscriminator
from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer.loggers import Logger
from pix2pix.trainer.loss_terms import LossInputs, LossTerm
from pix2pix.trainer.state import TrainingState

from helpers import make_data, tiny_config, tiny_models

PACKAGE = Path(pix2pix.__file__).parent


def _private_assignments(tree: ast.AST) -> list[str]:
    """``obj._x = ...`` (or ``+=``) where ``obj`` is not ``self``/``cls``."""
    found = []
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AugAssign, ast.AnnAssign))
            else []
        )
        for target in targets:
            for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                if (
                    isinstance(element, ast.Attribute)
                    and element.attr.startswith("_")
                    and not element.attr.startswith("__")
                    and not (
                        isinstance(element.value, ast.Name) and element.value.id in ("self", "cls")
                    )
                ):
                    found.append(f"{ast.unparse(element)} (line {node.lineno})")
    return found


def test_no_module_assigns_another_objects_private_attributes():
    offenders = {
        str(path.relative_to(PACKAGE)): bad
        for path in sorted(PACKAGE.rglob("*.py"))
        if (bad := _private_assignments(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_checker_sees_such_an_assignment():
    tree = ast.parse("trainer._saving = True\nself._ok = 1\ncls._ok = 2\na, b._x = 1, 2\n")
    assert _private_assignments(tree) == ["trainer._saving (line 1)", "b._x (line 4)"]


def test_files_stay_small():
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    assert sizes["trainer/trainer.py"] <= 500
    assert {name: n for name, n in sizes.items() if n > 600} == {}


class Recording(Logger):
    def __init__(self):
        self.scalars, self.closed = [], False

    def log_scalars(self, step, values):
        self.scalars.append((step, dict(values)))

    def close(self):
        self.closed = True


def test_loggers_are_objects_beside_the_configs_names(tmp_path):
    recording = Recording()
    config = tiny_config(tmp_path, max_steps=2, loggers=("csv",))
    Trainer(*tiny_models(), config, make_data(4), loggers=[recording]).fit()
    assert [step for step, values in recording.scalars if "G_L1" in values] == [1, 2]
    assert recording.closed
    assert (tmp_path / "run" / "metrics.csv").is_file()  # the named ones still run
    with pytest.raises(ValueError, match="loggers must hold pix2pix.trainer.Logger instances"):
        Trainer(*tiny_models(), config, make_data(4), loggers=["tensorboard"])


def test_a_loss_term_is_added_by_extending_the_list(tmp_path):
    class TVTrainer(Trainer):
        def configure_loss_terms(self):
            g_terms, d_terms = super().configure_loss_terms()
            g_terms.append(LossTerm("G_TV", 2.0, lambda x: x.fake.diff(dim=-1).abs().mean()))
            return g_terms, d_terms

    trainer = TVTrainer(*tiny_models(), tiny_config(tmp_path), make_data(2))
    trainer.setup()
    assert [t.name for t in trainer.generator_terms] == ["G_GAN", "G_L1", "G_TV"]
    batch = {k: torch.stack([x[k] for x in make_data(2)]) for k in ("source", "target")}
    source, target = trainer.prepare_batch(batch)
    fake = trainer.generate(source)
    loss, logs = trainer.generator_loss(source, target, fake)
    tv = fake.diff(dim=-1).abs().mean() * 2.0
    assert torch.equal(logs["G_TV"], tv)
    assert torch.equal(loss, logs["G_GAN"] + logs["G_L1"] + tv)


def test_feature_matching_runs_d_once_on_the_fake_pair(tmp_path):
    g, _ = tiny_models()
    d = MultiScaleDiscriminator(base_channels=4, n_layers=2, num_d=1)
    config = tiny_config(tmp_path, lambda_feat=10.0)
    trainer = Trainer(g, d, config, make_data(2))
    trainer.setup()
    assert [t.name for t in trainer.generator_terms] == ["G_GAN", "G_L1", "G_feat"]
    calls = []
    inputs = LossInputs(
        *(torch.zeros(1, 3, 32, 32),) * 3,
        lambda pair, **kw: calls.append(kw) or d(pair, **kw),
        d,
        features=True,
    )
    for term in trainer.generator_terms:
        term.compute(inputs)
    # the GAN term and feature matching share one forward on the fake pair; one on the real
    assert calls == [{"return_features": True}, {"return_features": True}]


def test_the_training_state_round_trips(tmp_path):
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, max_steps=3), make_data(4))
    trainer.fit()
    saved = trainer.state.state_dict([])
    fresh = Trainer(*tiny_models(), tiny_config(tmp_path, max_steps=3), make_data(4))
    fresh.setup()
    assert fresh.state.load_state_dict(saved, rank=0, world_size=1, source="x") is False
    assert (fresh.step, fresh.epoch, fresh.batch_in_epoch) == (3, 1, 1)
    again = fresh.state.state_dict([])
    assert again["optimizer_g"]["state"][0]["step"] == saved["optimizer_g"]["state"][0]["step"]
    with pytest.raises(ValueError, match="trainer-state format 1"):
        TrainingState().load_state_dict({"format": 1}, rank=0, world_size=1, source="old")


def test_trainer_attributes_read_and_write_the_state():
    trainer = Trainer(*tiny_models(), TrainerConfig(device="cpu"), make_data(2))
    trainer.step = 7
    assert trainer.state.step == 7 and trainer.step == 7
    assert trainer.optimizer_g is None  # built by setup()
    with pytest.raises(ValueError, match="cannot checkpoint: models must subclass"):
        Trainer(torch.nn.Conv2d(3, 3, 1), tiny_models()[1])
