import importlib.util
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_runs(tmp_path):
    output = load_example("quickstart").main(["--output", str(tmp_path / "qs")])
    assert Image.open(output / "translated.png").size == (300, 200)
    assert (output / "model" / "model.safetensors").is_file()
