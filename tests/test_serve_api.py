"""``pix2pix serve``: the HTTP API through a test client, its security checks, the worker."""

from __future__ import annotations

import argparse
import io
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")

from fastapi.testclient import TestClient

from pix2pix import Translator
from pix2pix._extras import install_command
from pix2pix.cli import main
from pix2pix.cli import serve as serve_cli
from pix2pix.data.synthetic import synthetic_palette as label_palette
from pix2pix.models import UNetGenerator
from pix2pix.serve import ServeSettings, create_app
from pix2pix.serve.model_info import read_palette
from pix2pix.serve.options import TranslateOptions
from pix2pix.serve.security import allowed_host, host_name
from pix2pix.serve.server import running_server
from pix2pix.serve.worker import InferenceWorker

BASE = "http://127.0.0.1:8000"
STATIC = Path(__file__).resolve().parents[1] / "pix2pix" / "serve" / "static"


def _tiny(folder: Path, in_channels: int = 3, **inference) -> Translator:
    generator = UNetGenerator(in_channels=in_channels, base_channels=4, num_downs=5)
    generator.save_pretrained(folder, inference={"crop_size": 32, **inference})
    return Translator.from_pretrained(folder, device="cpu")


@pytest.fixture(scope="module")
def translator(tmp_path_factory) -> Translator:
    return _tiny(tmp_path_factory.mktemp("serve") / "labels", palette=label_palette())


@pytest.fixture(scope="module")
def client(translator):
    with TestClient(create_app(translator, name="tiny"), base_url=BASE) as c:
        yield c


def _client(translator, **settings) -> TestClient:
    return TestClient(create_app(translator, ServeSettings(**settings)), base_url=BASE)


def _encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _random(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (h, w) if channels == 1 else (h, w, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _decode(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    return np.asarray(image)


def _post(client, body: bytes, query: str = "", **headers):
    return client.post(
        "/api/translate" + query, content=body, headers={"content-type": "image/png", **headers}
    )


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    return body["error"]


# ---------------------------------------------------------------- info, page, health


def test_healthz_info_and_page(client, translator):
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/api/info").json()
    assert info["name"] == "tiny" and info["model_type"] == "UNetGenerator"
    assert info["config"]["base_channels"] == 4
    assert info["input"] == {"height": 32, "width": 32, "channels": 3}
    assert info["kind"] == "labels"
    assert [c["name"] for c in info["palette"]][:2] == ["sky", "wall"]
    assert info["limits"]["max_pixels"] > 0 and info["auth"] is False
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/style.css").headers["content-type"].startswith("text/css")


def test_favicon(client):
    # issue 27: the browser asked for /favicon.ico and got a 404 in its console
    page = client.get("/").text
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in page
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = client.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert icon.text.lstrip().startswith("<svg") and icon.text.rstrip().endswith("</svg>")
        assert icon.headers["x-content-type-options"] == "nosniff"


def test_page_assets_work_offline():
    # every asset is served by the package: no CDN, no remote font, no absolute URL
    for path in STATIC.iterdir():
        # the SVG namespace is a name, never fetched
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_unknown_route_is_a_json_404(client):
    _error(client.get("/static/../../etc/passwd"), 404)
    _error(client.get("/api/nothing"), 404)


# ---------------------------------------------------------------- translation


@pytest.mark.parametrize(("h", "w"), [(32, 32), (37, 53), (64, 20)])
def test_png_in_png_out_at_the_input_size(client, translator, h, w):
    array = _random(h, w, seed=h * w)
    out = _decode(_post(client, _encode(array)))
    assert out.shape == (h, w, 3)
    # exactly what the library gives for the same image
    np.testing.assert_array_equal(out, np.asarray(translator.translate(Image.fromarray(array))))


def test_jpeg_gray_and_rgba_inputs(client):
    assert _decode(_post(client, _encode(_random(40, 24), "JPEG"))).shape == (40, 24, 3)
    assert _decode(_post(client, _encode(_random(33, 33, 1)))).shape == (33, 33, 3)
    rgba = _random(32, 48, 4)
    out = _decode(_post(client, _encode(rgba)))
    assert out.shape == (32, 48, 4)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])  # alpha carried over


def test_multipart_form(client):
    body = _encode(_random(32, 40))
    out = _decode(client.post("/api/translate", files={"image": ("a.png", body, "image/png")}))
    assert out.shape == (32, 40, 3)
    other = client.post("/api/translate", files={"photo": ("b.png", body, "image/png")})
    np.testing.assert_array_equal(_decode(other), out)  # any field name: the first file
    _error(client.post("/api/translate", data={"image": "not a file"}), 400)


def test_timing_headers(client):
    response = _post(client, _encode(_random(32, 32)))
    assert "inference;dur=" in response.headers["server-timing"]
    assert response.headers["x-batch-size"] == "1"
    assert response.headers["cache-control"] == "no-store"


def test_paper_mode_with_seed_is_reproducible(client):
    body = _encode(_random(32, 32, seed=5))
    first = _decode(_post(client, body, "?test_mode=paper&seed=3"))
    np.testing.assert_array_equal(first, _decode(_post(client, body, "?test_mode=paper&seed=3")))
    # batch statistics instead of the running ones: not the eval result
    assert not np.array_equal(first, _decode(_post(client, body)))


def test_a_paper_mode_model_is_served_in_its_mode_seeded_so_the_page_stays_still(tmp_path):
    generator = UNetGenerator(base_channels=4, num_downs=6)  # batch norm and a dropout block
    generator.save_pretrained(tmp_path / "m", inference={"crop_size": 64, "test_mode": "paper"})
    translator = Translator.from_pretrained(tmp_path / "m", device="cpu")
    image = _random(64, 64, seed=2)
    body = _encode(image)
    with TestClient(create_app(translator, name="paper"), base_url=BASE) as c:
        info = c.get("/api/info").json()
        assert info["test_mode"] == "paper" and info["seed"] == 0
        drawn = _decode(_post(c, body))  # no options: the model's mode, seed 0
        np.testing.assert_array_equal(drawn, _decode(_post(c, body)))
        np.testing.assert_array_equal(drawn, translator.translate(image, test_mode="paper", seed=0))
        other = _decode(_post(c, body, "?seed=4"))
        np.testing.assert_array_equal(other, translator.translate(image, test_mode="paper", seed=4))
        assert not np.array_equal(drawn, other)
        np.testing.assert_array_equal(
            _decode(_post(c, body, "?test_mode=eval")),
            translator.translate(image, test_mode="eval"),
        )
        assert "test_mode=paper" in _error(_post(c, body, "?test_mode=eval&seed=1"), 422)


def test_tile_option(client):
    assert _decode(_post(client, _encode(_random(70, 90)), "?tile=32")).shape == (70, 90, 3)


def test_concurrent_requests_each_get_their_own_result(translator):
    inputs = [_random(32 + 8 * (i % 3), 32, seed=100 + i) for i in range(24)]
    expected = [np.asarray(translator.translate(Image.fromarray(a))).astype(int) for a in inputs]
    with _client(translator, max_batch=4) as client:

        def call(i: int):
            response = _post(client, _encode(inputs[i]))
            return i, _decode(response).astype(int), int(response.headers["x-batch-size"])

        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(call, range(len(inputs))))
    for i, out, _ in results:
        assert out.shape == expected[i].shape
        # batched runs match one-by-one up to float rounding; another input differs by far more
        assert np.abs(out - expected[i]).max() <= 2, i
    assert all(1 <= batch <= 4 for *_, batch in results)


# ---------------------------------------------------------------- errors


def test_400_for_what_is_not_a_png_or_jpeg(client):
    assert "PNG or JPEG" in _error(_post(client, b"hello, world"), 400)
    assert "no body" in _error(_post(client, b""), 400)
    gif = io.BytesIO()
    Image.fromarray(_random(8, 8)).save(gif, format="GIF")
    _error(_post(client, gif.getvalue()), 400)
    _error(_post(client, _encode(_random(32, 32))[:60]), 400)  # truncated


def test_400_for_a_wrong_channel_count(tmp_path):
    four = _tiny(tmp_path / "four", in_channels=4)
    with _client(four) as client:
        message = _error(_post(client, _encode(_random(32, 32))), 400)
    assert "4 input channel" in message


def test_413_beyond_the_upload_size(translator):
    body = _encode(_random(64, 64))
    with _client(translator, max_upload_bytes=len(body) - 1) as client:
        assert "limit" in _error(_post(client, body), 413)

        def chunks():  # no Content-Length: counted as it arrives
            yield body[:1000]
            yield body[1000:]

        _error(client.post("/api/translate", content=chunks()), 413)
        assert _post(client, _encode(np.zeros((8, 8, 3), np.uint8))).status_code == 200


def test_413_beyond_the_pixel_count(translator):
    with _client(translator, max_pixels=48 * 48) as client:
        assert "pixels" in _error(_post(client, _encode(_random(49, 48))), 413)
        assert _post(client, _encode(_random(48, 48))).status_code == 200


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding(client):
    # a few hundred bytes that claim 60,000 x 60,000 pixels (10 GiB decoded)
    assert "pixels" in _error(_post(client, _png_header_only(60_000, 60_000)), 413)
    assert "pixels" in _error(_post(client, _png_header_only(3000, 3000)), 413)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("?tile=abc", "integer"),
        ("?tile=4", "between"),
        ("?test_mode=maybe", "must be one of paper, eval"),
        ("?seed=1", "test_mode=paper"),
        ("?test_mode=paper&seed=-1", "between"),
        ("?tiles=64", "Unknown option"),
        ("?tile=32&tile=64", "more than once"),
    ],
)
def test_422_for_bad_options(client, query, words):
    assert words in _error(_post(client, _encode(_random(32, 32)), query), 422)


# ---------------------------------------------------------------- security


def test_foreign_host_header_refused(client):
    # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its own name
    for path in ("/", "/api/info", "/healthz"):
        assert "Host header" in _error(client.get(path, headers={"host": "evil.example"}), 400)
    assert client.get("/api/info", headers={"host": "localhost:8000"}).status_code == 200
    assert client.get("/api/info", headers={"host": "[::1]:8000"}).status_code == 200


def test_foreign_origin_refused_on_the_api(client):
    body = _encode(_random(32, 32))
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        _error(_post(client, body, origin=origin), 403)
    _error(client.get("/api/info", headers={"sec-fetch-site": "cross-site"}), 403)
    assert _post(client, body, origin=BASE).status_code == 200  # the page itself
    assert client.get("/", headers={"origin": "http://evil.example"}).status_code == 200


def test_token(translator):
    with _client(translator, token="s3cret") as client:
        response = client.get("/api/info")
        _error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        _error(client.get("/api/info", headers={"authorization": "Bearer wrong"}), 401)
        _error(client.get("/api/info", headers={"authorization": "Basic s3cret"}), 401)
        ok = client.get("/api/info", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["auth"] is True
        # the page, its assets and the health check hold no model output
        assert client.get("/").status_code == 200 and client.get("/healthz").status_code == 200


def test_host_rules():
    assert host_name("127.0.0.1:8000") == "127.0.0.1"
    assert host_name("[::1]:80") == "::1"
    assert host_name("Example.COM.") == "example.com"
    assert host_name("a@b") is None and host_name("x:port") is None and host_name("") is None
    loopback = ServeSettings()
    assert allowed_host("localhost", loopback) and allowed_host("127.0.0.1", loopback)
    assert not allowed_host("evil.example", loopback) and not allowed_host("10.0.0.2", loopback)
    wildcard = ServeSettings(host="0.0.0.0", allowed_hosts=("studio.lan",))
    assert allowed_host("192.168.1.7", wildcard) and allowed_host("studio.lan", wildcard)
    assert not allowed_host("evil.example", wildcard)
    named = ServeSettings(host="192.168.1.7")
    assert allowed_host("192.168.1.7", named) and not allowed_host("localhost", named)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_pixels"):
        ServeSettings(max_pixels=0)
    with pytest.raises(ValueError, match="token"):
        ServeSettings(token=" ")
    assert ServeSettings(host="0.0.0.0", port=9).url == "http://127.0.0.1:9/"


def test_real_server_on_a_free_port(translator):
    import httpx

    with running_server(create_app(translator)) as url:
        assert httpx.get(url + "healthz").json() == {"status": "ok"}
        response = httpx.post(url + "api/translate", content=_encode(_random(32, 32)))
        assert _decode(response).shape == (32, 32, 3)
        assert "server" not in response.headers  # no version banner
        assert httpx.get(url, headers={"host": "evil.example"}).status_code == 400


# ---------------------------------------------------------------- palette and starters


def test_demo_palette_is_the_synthetic_colours():
    from pix2pix.data.synthetic import CLASS_NAMES, LABEL_COLOURS

    palette = read_palette({"palette": label_palette()})
    assert [c["name"] for c in palette] == list(CLASS_NAMES)
    assert [c["color"] for c in palette] == LABEL_COLOURS.tolist()


def test_starters_in_the_models_palette(client):
    listing = client.get("/api/starters").json()
    assert listing["count"] == len(listing["urls"]) >= 3
    colours = {tuple(c["color"]) for c in label_palette()}
    for url in listing["urls"]:
        drawing = _decode(client.get(url))
        assert drawing.shape == (32, 32, 3)
        assert {tuple(p) for p in drawing.reshape(-1, 3)} <= colours
    _error(client.get(f"/api/starters/{listing['count']}.png"), 404)
    _error(client.get("/api/starters/x.png"), 404)


def test_a_starter_index_that_is_not_ascii_digits_is_a_404(client):
    # issue 23: '²' passes str.isdigit() and int() refused it: a 500 with a traceback
    for index in ("%C2%B2", "%D9%A3", "1%C2%B2", "9" * 5000, "-1", "+1", " 1"):
        assert "No starter drawing" in _error(client.get(f"/api/starters/{index}.png"), 404)
    assert client.get("/api/starters/0.png").status_code == 200


@pytest.mark.parametrize("declared", [b"\xb2", b"1\xb2", b"\xd9\xa3", b"9" * 30])
def test_a_content_length_that_is_not_ascii_digits_is_refused(declared):
    # the same trap as the starter index: '\u00b2' (Latin-1 b'\xb2') passes str.isdigit().
    # uvicorn's h11 refuses such a header itself, so the request is built here, as another
    # ASGI server could pass it on
    import asyncio

    from starlette.requests import Request

    from pix2pix.serve.errors import ApiError
    from pix2pix.serve.images import read_body

    async def receive():
        return {"type": "http.request", "body": b"x", "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", declared)]}
    with pytest.raises(ApiError) as refused:
        asyncio.run(read_body(Request(scope, receive), limit=1000))
    assert refused.value.status == (413 if declared.isdigit() else 400)


def test_starters_recoloured_for_a_cmp_style_palette(tmp_path):
    palette = [
        {"name": "background", "color": [0, 0, 0]},
        {"name": "facade", "color": [10, 20, 30]},
        {"name": "window", "color": [200, 100, 0]},
    ]
    with _client(_tiny(tmp_path / "cmp", palette=palette)) as client:
        drawing = _decode(client.get("/api/starters/0.png"))
    assert {tuple(p) for p in drawing.reshape(-1, 3)} <= {tuple(c["color"]) for c in palette}


def test_no_palette_no_starters_and_a_bad_palette_is_ignored(tmp_path, caplog):
    for name, inference in (("edges", {}), ("bad", {"palette": [{"name": "x", "color": [1]}]})):
        with _client(_tiny(tmp_path / name, **inference)) as client:
            info = client.get("/api/info").json()
            assert info["kind"] == "drawing" and info["palette"] is None
            assert client.get("/api/starters").json()["count"] == 0
    # the bad one says why it was ignored, in the contract's words
    assert "ignoring the model's palette: class 1's color is not three integers" in caplog.text


# ---------------------------------------------------------------- the worker


class _Recorder:
    """A stand-in translator that records each call, blocking until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def translate(self, x, *, tile=None, test_mode=None, seed=None, batch_size=1, **_):
        self.entered.set()
        self.gate.wait(10)
        items = x if isinstance(x, list) else [x]
        self.calls.append((len(items), test_mode == "paper"))
        return [f"out-{i.size}" for i in items] if isinstance(x, list) else f"out-{x.size}"


def test_worker_batches_eval_mode_requests_only():
    recorder = _Recorder()
    worker = InferenceWorker(recorder, max_batch=3)
    images = [Image.new("RGB", (8 + i, 8)) for i in range(6)]
    plain, noisy = TranslateOptions(), TranslateOptions(test_mode="paper", seed=1)
    futures = [worker.submit(images[0], plain)]
    assert recorder.entered.wait(10)  # the worker runs it and blocks; the others queue up
    futures += [worker.submit(images[i], plain) for i in (1, 2, 3, 4)]
    futures.append(worker.submit(images[5], noisy))
    recorder.gate.set()
    results = [f.result(10) for f in futures]
    worker.close()
    assert [r.image for r in results] == [f"out-{im.size}" for im in images]  # no mix-ups
    assert recorder.calls[0] == (1, False)
    assert (3, False) in recorder.calls and recorder.calls[-1] == (1, True)
    assert max(n for n, _ in recorder.calls) <= 3


class _PixelRecorder(_Recorder):
    """Records the pixels of every call as well."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels: list[int] = []

    def translate(self, x, **kwargs):
        items = x if isinstance(x, list) else [x]
        self.pixels.append(sum(i.size[0] * i.size[1] for i in items))
        return super().translate(x, **kwargs)


def test_worker_batches_by_pixels_not_only_by_count():
    # issue 23: 16 large images (each allowed alone) ran 8 at a time and peaked at 3.5 GB
    recorder = _PixelRecorder()
    worker = InferenceWorker(recorder, max_batch=8, max_batch_pixels=100 * 100)
    sizes = [(10, 10)] + [(60, 60)] * 5 + [(200, 200)] + [(30, 30)] * 8
    futures = [worker.submit(Image.new("RGB", sizes[0]), TranslateOptions())]
    assert recorder.entered.wait(10)  # the first runs and blocks; the others queue up
    futures += [worker.submit(Image.new("RGB", s), TranslateOptions()) for s in sizes[1:]]
    recorder.gate.set()
    assert [f.result(10).image for f in futures] == [f"out-{s}" for s in sizes]  # in order
    worker.close()
    for (count, _), pixels in zip(recorder.calls, recorder.pixels):
        assert pixels <= 100 * 100 or count == 1, (count, pixels)
    assert (1, False) in recorder.calls  # the 200x200 image alone, over the budget
    assert max(n for n, _ in recorder.calls) == 8  # the 30x30 ones still batch, by count


def test_the_default_batch_never_holds_more_than_the_largest_image(translator):
    settings = ServeSettings(max_pixels=64 * 64)
    assert settings.batch_pixels == 64 * 64
    assert ServeSettings(max_pixels=64 * 64, max_batch_pixels=10).batch_pixels == 10
    with pytest.raises(ValueError, match="max_batch_pixels"):
        ServeSettings(max_batch_pixels=0)
    app = create_app(translator, settings)
    assert app.state.worker.max_batch_pixels == 64 * 64
    app.state.worker.close()
    recorder = _PixelRecorder()
    worker = InferenceWorker(recorder, max_batch=8, max_batch_pixels=settings.batch_pixels)
    futures = [worker.submit(Image.new("RGB", (64, 64)), TranslateOptions()) for _ in range(16)]
    assert recorder.entered.wait(10)
    recorder.gate.set()
    assert all(f.result(10).image == "out-(64, 64)" for f in futures)
    worker.close()
    assert {n for n, _ in recorder.calls} == {1}  # each largest image alone


def test_worker_refuses_beyond_its_queue():
    from pix2pix.serve.errors import ApiError

    recorder = _Recorder()
    worker = InferenceWorker(recorder, max_batch=1, max_queue=2)
    image = Image.new("RGB", (8, 8))
    futures = [worker.submit(image, TranslateOptions())]
    assert recorder.entered.wait(10)
    futures += [worker.submit(image, TranslateOptions()) for _ in range(2)]
    with pytest.raises(ApiError) as refused:
        worker.submit(image, TranslateOptions())
    assert refused.value.status == 503
    recorder.gate.set()
    assert all(f.result(10).image == "out-(8, 8)" for f in futures)
    worker.close()


# ---------------------------------------------------------------- the command line


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pix2pix")
    serve_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_defaults_are_safe():
    args = _parse(["serve", "--model", "m"])
    assert (args.host, args.port, args.token, args.device, args.dtype) == (
        "127.0.0.1",
        8000,
        None,
        "auto",
        "fp32",
    )
    assert args.compile is False and args.func is serve_cli.run
    assert (args.header_timeout, args.body_timeout) == (10.0, 60.0)
    args = _parse(["serve", "--model", "m", "--compile", "--dtype", "bf16", "--allow-host", "a"])
    assert args.compile and args.dtype == "bf16" and args.allow_host == ["a"]


def test_cli_names_the_missing_extra(capsys, monkeypatch):
    """One line, before the model loads, naming the packages to install (not on PyPI)."""
    real = serve_cli.importlib.util.find_spec
    monkeypatch.setattr(
        serve_cli.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "uvicorn" else real(name, *a),
    )
    assert main(["serve", "--model", "facades_label2photo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"pix2pix serve needs uvicorn: {install_command('serve')}")
    assert "Traceback" not in "\n".join(err)


def test_cli_missing_model_is_a_plain_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        serve_cli.run(_parse(["serve", "--model", str(tmp_path / "nope"), "--port", "0"]))


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (["--token", ""], None, "--token is empty"),
        (["--token", "  "], None, "--token is empty"),
        ([], "", "PIX2PIX_SERVE_TOKEN is empty"),
        (["--token", "pässwort"], None, "--token has a space or a character outside"),
        (["--token", "two words"], None, "character 4"),
    ],
)
def test_cli_refuses_an_unusable_token(monkeypatch, capsys, tmp_path, argv, env, words):
    # issue 23: `--token ""` (or an empty PIX2PIX_SERVE_TOKEN) used to serve with no token
    from pix2pix.cli import main

    monkeypatch.delenv(serve_cli.TOKEN_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(serve_cli.TOKEN_ENV, env)
    # the model does not exist: without the check, the error would be about the model
    code = main(["serve", "--model", str(tmp_path / "absent"), "--port", "0", *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "pässwort" not in err  # the secret is not repeated


def test_a_non_ascii_token_is_refused_and_an_ascii_one_compared_as_sent(translator):
    # a non-ASCII token could never match: the header is read as Latin-1
    with pytest.raises(ValueError, match="printable ASCII"):
        ServeSettings(token="pässwort")
    token = "a-B_9.~+/=!$%&'*"
    with _client(translator, token=token) as client:
        ok = client.get("/api/info", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        latin = client.get("/api/info", headers={"authorization": "Bearer ä".encode("latin-1")})
        _error(latin, 401)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--max-upload-mb", "inf"], "--max-upload-mb inf must be a positive, finite number"),
        (["--max-upload-mb", "nan"], "--max-upload-mb nan must be"),
        (["--max-upload-mb", "-1"], "--max-upload-mb -1.0 must be"),
        (["--max-upload-mb", "0"], "--max-upload-mb 0.0 must be"),
        (["--max-upload-mb", "1e-9"], "less than one byte"),
        (["--max-pixels", "0"], "--max-pixels 0 must be at least 1"),
        (["--max-batch", "-2"], "--max-batch -2 must be at least 1"),
        (["--header-timeout", "0"], "--header-timeout 0.0 must be a positive, finite number"),
        (["--body-timeout", "inf"], "--body-timeout inf must be a positive, finite number"),
    ],
)
def test_cli_bad_limits_are_one_line(capsys, tmp_path, argv, words):
    # issue 23: --max-upload-mb inf was an OverflowError traceback
    from pix2pix.cli import main

    code = main(["serve", "--model", str(tmp_path / "absent"), "--port", "0", *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_display_name_hides_local_paths(tmp_path):
    (tmp_path / "runs" / "facades" / "final").mkdir(parents=True)
    assert serve_cli.display_name(str(tmp_path / "runs" / "facades" / "final")) == "facades/final"
    assert serve_cli.display_name("owner/model") == "owner/model"
