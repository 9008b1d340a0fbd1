"""Held-out scores: L1 and SSIM equal a reference computed beside them; FID/KID per style and overall."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from conftest import TEST_CHARS, requires_kai_font

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "metrics"))
from metrics_toys import toy_extractor

from igan.translation.data import PairsDataModule
from igan.translation.metrics import HeldOutMetrics, metric_columns, style_slug
from igan.translation.module import Translation

STYLES = ["AR PL UKai CN", "LXGW WenKai"]


def reference_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Wang et al. 2004 per image, images in [0, 1]: 11x11 Gaussian window (sigma 1.5) over the image
    reflect-padded by 5, averaged over every pixel (torchmetrics' convention), variances floored at 0."""
    t = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-t**2 / (2 * 1.5**2))
    w = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    x, y = (F.pad(t.double(), (5, 5, 5, 5), mode="reflect") for t in (x, y))
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    sxx, syy = (F.conv2d(x * x, w) - mx**2).clamp(min=0), (F.conv2d(y * y, w) - my**2).clamp(min=0)
    sxy = F.conv2d(x * y, w) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


class Lookup(torch.nn.Module):
    """A 'generator' that draws each held-out truth, except style 1's, which it inverts."""

    def __init__(self, data: PairsDataModule) -> None:
        super().__init__()
        self.data = data

    def translate(self, source: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        pairs, out = self.data.pairs, []
        for s, y in zip(source, style):
            c = next(i for i in range(len(pairs.chars)) if torch.equal(pairs.sources[i].float() / 127.5 - 1, s[0]))
            (at,) = torch.nonzero((pairs.char_index == c) & (pairs.style_index == y)).flatten().tolist()
            truth = pairs.targets[at].float() / 127.5 - 1
            out.append(-truth if int(y) == 1 else truth)
        return torch.stack(out).unsqueeze(1)


@requires_kai_font
def test_scores_equal_a_reference_computed_beside_them(calligraphy_root):
    data = PairsDataModule(root=str(calligraphy_root), chars=TEST_CHARS, styles=STYLES, image_size=32)
    data.setup("fit")
    torch.manual_seed(0)
    module = Translation(image_size=32, num_styles=2, width_g=8, width_d=8, style_dim=8)
    metrics = HeldOutMetrics(num_chars=None, fid=False, batch_size=3)
    values = metrics.scores(data, module)

    source, target, style = data.held_out.__getitems__(list(range(len(data.held_out))))
    module.generator.eval()
    with torch.no_grad():
        fake = module.generator(source, style)
    fake01, real01 = (fake + 1) / 2, (target + 1) / 2
    l1 = (fake01 - real01).abs().flatten(1).mean(1).double()
    ssim = reference_ssim(fake01.clamp(0, 1), real01)
    assert abs(values["l1"] - l1.mean().item()) < 1e-6
    assert abs(values["ssim"] - ssim.mean().item()) < 1e-4
    for s, name in enumerate(STYLES):
        mask = style == s
        assert abs(values[f"l1_{style_slug(name)}"] - l1[mask].mean().item()) < 1e-6
        assert abs(values[f"ssim_{style_slug(name)}"] - ssim[mask].mean().item()) < 1e-4
    assert values["ssim"] < 0.9  # an untrained generator is far from the truth


@requires_kai_font
def test_fid_kid_per_style_and_overall(calligraphy_root):
    data = PairsDataModule(root=str(calligraphy_root), chars=TEST_CHARS, styles=STYLES, image_size=32)
    data.setup("fit")
    metrics = HeldOutMetrics(num_chars=None, batch_size=4)
    metrics.extractor = toy_extractor(chunk_size=4)
    values = metrics.scores(data, Lookup(data))
    ukai, wenkai = style_slug(STYLES[0]), style_slug(STYLES[1])
    assert set(values) == set(metric_columns(STYLES))
    # Style 0 is drawn exactly: L1 0, SSIM 1, FID 0; style 1 inverted: far off.
    assert values[f"l1_{ukai}"] == 0 and abs(values[f"ssim_{ukai}"] - 1) < 1e-4
    assert abs(values[f"fid_{ukai}"]) < 1e-3 and values[f"fid_{wenkai}"] > 1
    assert values[f"l1_{wenkai}"] > 0.5
    assert abs(values["l1"] - (values[f"l1_{ukai}"] + values[f"l1_{wenkai}"]) / 2) < 1e-6  # both styles have every char
    assert 0 < values["fid"] and values["kid"] > values[f"kid_{ukai}"]
