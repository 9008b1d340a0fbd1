"""The page's layout: four tabs wired to :mod:`igan.app.actions`, and its named API endpoints.

The page opens on one tab with its output already drawn at the tab's defaults, so it shows a
model's images at once: Generate, or the tab named by ``?tab=interpolate`` (or ``translate``,
``kernels``) in the address.
Bad input reaches the page as one message (``gr.Error``), never a traceback.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import gradio as gr

from igan.app import actions
from igan.app.models import Models
from igan.errors import IganError

TABS = ("generate", "interpolate", "translate", "kernels")
#: Small images are drawn with square pixels, not blurred by the browser's upscaling.
CSS = ".pixels img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }"
SEED_MAX = 99_999  # the slider's range; the API takes any 63-bit seed
DEFAULT_CHARS = "永字八法"


def shown(action):
    """``action`` with its bad-input errors as a message on the page (and to API clients)."""

    @functools.wraps(action)
    def run(*args):
        try:
            result = action(*args)
        except (IganError, ValueError, TypeError) as err:
            raise gr.Error(str(err), print_exception=False) from None
        return tuple(map(as_text, result)) if isinstance(result, tuple) else as_text(result)

    return run


def as_text(value):
    """Gradio's file outputs take paths as strings."""
    return str(value) if isinstance(value, Path) else value


def pick(request: gr.Request) -> str:
    """The tab named by the page address's ``?tab=``, else the first."""
    tab = (request.query_params.get("tab") or "").lower() if request else ""
    return tab if tab in TABS else TABS[0]


def note_if_empty(names: list[str], what: str) -> None:
    if not names:
        gr.Markdown(f"*No {what} was given: start the page with `--ckpt` naming one.*")


def build(models: Models, out_dir: Path) -> gr.Blocks:
    """The Blocks of the page for ``models``; outputs are written under ``out_dir``."""
    gans, translators, involution = list(models.gans), list(models.translators), models.involution_gans
    styles = next(iter(models.translators.values())).styles if translators else []

    def choice(names, label, **kw):
        return gr.Dropdown(names, value=names[0] if names else None, label=label, allow_custom_value=True, **kw)

    with gr.Blocks(title="igan", analytics_enabled=False) as page:
        gr.Markdown("## igan: generate, interpolate, translate")
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate"):
                note_if_empty(gans, "GAN checkpoint")
                with gr.Row():
                    with gr.Column(scale=1):
                        g_model = choice(gans, "checkpoint")
                        g_seed = gr.Slider(0, SEED_MAX, value=0, step=1, label="seed")
                        g_random = gr.Button("random seed", size="sm")
                        g_trunc = gr.Slider(0, 2, value=0, step=0.05, label="truncation (0 = off)")
                        g_side = gr.Slider(1, actions.MAX_SIDE, value=8, step=1, label="grid size (side)")
                        g_run = gr.Button("Generate", variant="primary")
                    with gr.Column(scale=2):
                        g_image = gr.Image(label="samples", type="filepath", format="png", height=480,
                                           elem_classes="pixels")
                        g_file = gr.File(label="PNG")
            with gr.Tab("Interpolate", id="interpolate"):
                note_if_empty(gans, "GAN checkpoint")
                with gr.Row():
                    with gr.Column(scale=1):
                        i_model = choice(gans, "checkpoint")
                        with gr.Row():
                            i_a = gr.Number(0, precision=0, label="seed A")
                            i_b = gr.Number(1, precision=0, label="seed B")
                        i_frames = gr.Slider(2, 64, value=8, step=1, label="frames")
                        i_path = gr.Radio(["slerp", "lerp"], value="slerp", label="path")
                        i_trunc = gr.Slider(0, 2, value=0, step=0.05, label="truncation (0 = off)")
                        i_run = gr.Button("Interpolate", variant="primary")
                    with gr.Column(scale=2):
                        i_row = gr.Image(label="row", type="filepath", format="png", height=160, elem_classes="pixels")
                        i_anim = gr.Image(label="animation", type="filepath", format="gif", height=256,
                                          elem_classes="pixels")
            with gr.Tab("Translate", id="translate"):
                note_if_empty(translators, "translation checkpoint")
                with gr.Row():
                    with gr.Column(scale=1):
                        t_models = gr.Dropdown(translators, value=translators[:1], multiselect=True,
                                               allow_custom_value=True, label="checkpoints (side by side)")
                        t_text = gr.Textbox(DEFAULT_CHARS, label="characters")
                        t_style = gr.Dropdown([*styles, "all"], value=styles[0] if styles else None,
                                              allow_custom_value=True, label="style")
                        t_run = gr.Button("Translate", variant="primary")
                        t_font = gr.Button("Download TTF (first checkpoint, this style)")
                    with gr.Column(scale=2):
                        t_status = gr.Textbox(label="status", interactive=False)
                        t_image = gr.Image(label="source, translations, truth", type="filepath", format="png",
                                           height=320, elem_classes="pixels")
                        t_file = gr.File(label="PNG")
                        t_ttf = gr.File(label="TTF")
            with gr.Tab("Kernels", id="kernels"):
                note_if_empty(involution, "checkpoint of an involution model")
                with gr.Row():
                    with gr.Column(scale=1):
                        k_model = choice(involution, "involution checkpoint")
                        k_seed = gr.Number(0, precision=0, label="seed")
                        k_count = gr.Slider(1, actions.MAX_KERNEL_IMAGES, value=4, step=1, label="images")
                        k_run = gr.Button("Draw kernel maps", variant="primary")
                    with gr.Column(scale=2):
                        gr.Markdown("Each row: an image, then per involution layer its kernel map (each pixel's "
                                    "K x K kernel summed, dark to bright).")
                        k_image = gr.Image(label="image | kernel maps", type="filepath", format="png",
                                           height=480, elem_classes="pixels")

        def generate(name, seed, truncation, side):
            path = actions.generate(models, name, seed, truncation, side, out_dir)
            return path, path

        def interpolate(name, seed_a, seed_b, frames, path, truncation):
            return actions.interpolate(models, name, seed_a, seed_b, frames, path, truncation, out_dir)

        def translate(names, text, style):
            path, message = actions.translate(models, names, text, style, out_dir)
            return path, path, message

        def font(names, text, style, progress=gr.Progress()):
            names = [names] if isinstance(names, str) else list(names or [])
            if not names:
                raise IganError("choose a translation checkpoint")
            return actions.font(models, names[0], text, style, out_dir, lambda done, total: progress((done, total)))

        def kernels(name, seed, count):
            return actions.kernels(models, name, seed, count, out_dir)

        g_in, i_in = [g_model, g_seed, g_trunc, g_side], [i_model, i_a, i_b, i_frames, i_path, i_trunc]
        t_in, k_in = [t_models, t_text, t_style], [k_model, k_seed, k_count]
        g_run.click(shown(generate), g_in, [g_image, g_file], api_name="generate")
        g_random.click(lambda: random.randint(0, SEED_MAX), None, g_seed, api_name=False)
        i_run.click(shown(interpolate), i_in, [i_row, i_anim], api_name="interpolate")
        t_run.click(shown(translate), t_in, [t_image, t_file, t_status], api_name="translate")
        t_font.click(shown(font), t_in, t_ttf, api_name="font")
        k_run.click(shown(kernels), k_in, k_image, api_name="kernels")

        runs = {"generate": (generate, g_in, [g_image, g_file]), "interpolate": (interpolate, i_in, [i_row, i_anim]),
                "translate": (translate, t_in, [t_image, t_file, t_status]), "kernels": (kernels, k_in, [k_image])}

        def opening(request: gr.Request):
            """The tab of ``?tab=``, drawn at its defaults (only that one: each page view costs a model call)."""
            tab = pick(request)
            function, inputs, outputs = runs[tab]
            try:
                values = shown(function)(*(c.value for c in inputs))
            except gr.Error:  # no checkpoint of that kind: the tab says so
                return {tabs: gr.Tabs(selected=tab)}
            values = values if isinstance(values, tuple) else (values,)
            return {tabs: gr.Tabs(selected=tab), **dict(zip(outputs, values))}

        page.load(opening, None, [tabs, *(c for _, _, outs in runs.values() for c in outs)], api_name=False)
    return page


def launch(page: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> str:
    """Serve the page on ``host:port``, offline (no share link, no server-side rendering); its URL."""
    page.queue(default_concurrency_limit=1)  # one model call at a time: the CPU is shared by all tabs
    page.launch(server_name=host, server_port=port, share=False, ssr_mode=False, inbrowser=False, quiet=True,
                prevent_thread_lock=not block, show_error=True, css=CSS, enable_monitoring=False)
    return page.local_url
