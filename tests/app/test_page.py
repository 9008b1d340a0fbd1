"""The page served on a free localhost port, called as a user's script calls it (``gradio_client``)
and looked at as a user sees it (headless Chromium): the named endpoints give the images of
:mod:`igan.app.actions`, bad input comes back as a message, and each tab shows its image."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from app.app_checkpoints import TRANSLATION_SIZE, gan_checkpoint, translation_checkpoint
from app.browser import Browser, chromium, free_port
from conftest import kai_fonts_installed
from PIL import Image

from igan.app import actions
from igan.sampling import checkpoint_name

gradio = pytest.importorskip("gradio")
client_module = pytest.importorskip("gradio_client")
TRANSLATE = kai_fonts_installed()


def served() -> list:
    """The checkpoints the page serves: a DCGAN, an IDCGAN and (with the Kai fonts) a translation run."""
    return [gan_checkpoint(), gan_checkpoint("cifar10_idcgan.yaml"), *([translation_checkpoint()] if TRANSLATE else [])]


@pytest.fixture(scope="module")
def server():
    from igan.app.cli import start

    ckpts = served()
    page, url = start([str(c) for c in ckpts], port=free_port(), block=False)
    yield page, url
    page.close()


@pytest.fixture(scope="module")
def client(server):
    return client_module.Client(server[1], verbose=False)


@pytest.fixture(scope="module")
def models(server):
    from igan.app.models import Models

    ckpts = served()
    return Models.load(ckpts)


GAN = lambda: checkpoint_name(gan_checkpoint())  # noqa: E731


def test_served_offline_on_localhost(server, client):
    assert server[1].startswith("http://127.0.0.1:")
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and server[0].share_url is None
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/generate", "/interpolate", "/translate"} <= set(named)


def test_generate_endpoint_is_the_action_and_deterministic(client, models, tmp_path):
    image, download = client.predict(GAN(), 3, 0.5, 4, api_name="/generate")
    assert Image.open(image).size == (4 * 34 + 2,) * 2 and Image.open(download).format == "PNG"
    expected = actions.generate(models, GAN(), 3, 0.5, 4, tmp_path)
    assert Path(download).read_bytes() == expected.read_bytes()
    again, _ = client.predict(GAN(), 3, 0.5, 4, api_name="/generate")
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(image)))
    other, _ = client.predict(GAN(), 4, 0.5, 4, api_name="/generate")
    assert not np.array_equal(np.asarray(Image.open(other)), np.asarray(Image.open(image)))


def test_interpolate_endpoint_gives_the_row_and_the_animation(client):
    row, animation = client.predict(GAN(), 1, 2, 5, "slerp", 0, api_name="/interpolate")
    assert Image.open(row).size == (5 * 34 + 2, 36)
    gif = Image.open(animation)
    assert gif.format == "GIF" and gif.n_frames == 5


@pytest.mark.skipif(not TRANSLATE, reason="no CJK Kai font installed: no translation run to serve")
def test_translate_endpoint_names_what_the_source_font_lacks(client):
    name = checkpoint_name(translation_checkpoint())
    image, download, status = client.predict([name], "的一\U0001F600", "all", api_name="/translate")
    assert Image.open(image).size == (2 * (TRANSLATION_SIZE + 2) + 2, 5 * (TRANSLATION_SIZE + 2) + 2)
    assert Image.open(download).format == "PNG" and "lacks \U0001F600" in status


@pytest.mark.parametrize("endpoint, args, message", [
    ("/generate", lambda: ("nope", 0, 0, 2), "no checkpoint named 'nope'"),
    ("/interpolate", lambda: (GAN(), 4, 4, 5, "slerp", 0), "seed A and seed B must differ"),
    ("/translate", lambda: ([GAN()], "永", "all"), "is a GAN checkpoint"),
    ("/translate", lambda: ([checkpoint_name(translation_checkpoint())] if TRANSLATE else [], "", "all"),
     "the text is empty" if TRANSLATE else "choose at least one translation checkpoint"),
])
def test_bad_input_comes_back_as_a_message(endpoint, args, message, client):
    with pytest.raises(Exception) as err:
        client.predict(*args(), api_name=endpoint)
    assert type(err.value).__name__ == "AppError" and message in str(err.value)


def content_box(rect: list[float]) -> tuple[int, int, int, int]:
    """The box an ``object-fit: contain`` image draws in: (left, top, right, bottom) in page pixels."""
    x, y, w, h, natural_w, natural_h = rect
    scale = min(w / natural_w, h / natural_h)
    dw, dh = natural_w * scale, natural_h * scale
    left, top = x + (w - dw) / 2, y + (h - dh) / 2
    return round(left), round(top), round(left + dw), round(top + dh)


#: The first visible, loaded output image of the open tab, as [x, y, width, height, natural w, natural h].
SHOWN_IMAGE = """(() => { const shown = [...document.querySelectorAll('.pixels img')].filter(
    i => i.complete && i.naturalWidth > 0 && i.offsetParent !== null && i.getBoundingClientRect().width > 0);
  if (!shown.length) return null; const i = shown[0], r = i.getBoundingClientRect();
  return [r.x, r.y, r.width, r.height, i.naturalWidth, i.naturalHeight, i.src]; })()"""


@pytest.mark.skipif(chromium() is None, reason="no chromium here (apt-get install chromium)")
@pytest.mark.parametrize("tab", ["generate", "interpolate", "translate", "kernels"])
def test_each_tab_shows_its_image(tab, server, tmp_path):
    if tab == "translate" and not TRANSLATE:
        pytest.skip("no CJK Kai font installed: no translation run to serve")
    with Browser() as browser:
        found = browser.open(f"{server[1]}?tab={tab}", SHOWN_IMAGE)
        shot = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
    shot.save(tmp_path / f"{tab}.png")
    pixels = np.asarray(shot).astype(float)
    assert pixels.std() > 10  # not blank
    with urllib_open(found[6]) as answer:  # the image file the page shows
        expected = Image.open(io.BytesIO(answer.read())).convert("RGB")
    left, top, right, bottom = content_box(found[:6])
    region = pixels[top:bottom, left:right]
    drawn = np.asarray(expected.resize((right - left, bottom - top), Image.NEAREST)).astype(float)
    background = pixels[5, 5]
    assert np.abs(region - background).mean() > 10  # the region is not the page's background
    correlation = np.corrcoef(region.flatten(), drawn.flatten())[0, 1]
    assert correlation > 0.9, (tab, correlation)  # and it is the generated image


def urllib_open(url: str):
    import urllib.request

    return urllib.request.urlopen(url, timeout=30)
