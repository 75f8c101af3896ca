import pytest
from PIL import Image

from helpers import load_example


def test_export_onnx_example_runs_at_a_tiny_size(tmp_path):
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)
    tiny = ["--size", "64", "--base-channels", "4", "--num-downs", "5"]
    result = load_example("export_onnx").main(["--output", str(tmp_path / "ex"), *tiny])
    assert result["onnx"].is_file()
    assert Image.open(result["image"]).size == (300, 200)
    assert result["max_abs_diff"] < 1e-4
