import importlib.util
import json
from pathlib import Path

import torch

from pix2pix.models import load_pretrained

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_trainer.py"


def load_example():
    spec = importlib.util.spec_from_file_location("custom_trainer", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_custom_trainer_runs_and_logs_its_extra_term(tmp_path):
    example = load_example()
    final = example.main(["--steps", "2", "--size", "32", "--width", "4",
                          "--output", str(tmp_path / "run")])  # fmt: skip
    assert load_pretrained(final).config["num_downs"] == 5
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert all(r["G_TV"] > 0 for r in records)


def test_total_variation_known_values():
    example = load_example()
    flat = torch.zeros(1, 3, 4, 4)
    assert float(example.total_variation(flat)) == 0.0
    stripes = torch.tensor([[0.0, 1.0, 0.0, 1.0]]).expand(4, 4)[None, None]
    assert float(example.total_variation(stripes)) == 1.0  # every horizontal step is 1
