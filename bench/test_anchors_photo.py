"""Checks of the whole-photo mode's tiling and mosaics (benchmark code; run: python3 -m pytest bench/ -q).

Needs numpy and Pillow (the anchor environment has both); the mosaic test also needs ../shared/sr-testsets.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchors_photo as ap  # noqa: E402
import photos  # noqa: E402


def _net_local(padded):
    """A 'network' with a 5x5 receptive field (< the 10 px context) and nearest x2 upsampling."""
    k = np.zeros_like(padded)
    for dy in (-2, 0, 2):
        for dx in (-2, 0, 2):
            k += np.roll(np.roll(padded, dy, axis=1), dx, axis=2)
    k /= 9
    return k.repeat(2, axis=1).repeat(2, axis=2)


@pytest.mark.parametrize("w,h,tile", [(37, 23, 16), (50, 50, 25), (61, 17, 400), (33, 29, 11)])
def test_tiles_cover_the_image_and_match_the_whole_image(w, h, tile):
    rng = np.random.default_rng(w * h + tile)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    grid = ap.tile_grid(w, h, tile)
    cover = np.zeros((h, w), dtype=int)
    for (x0, x1, y0, y1), (rx0, rx1, ry0, ry1), (pl, pr, pt, pb) in grid:
        cover[y0:y1, x0:x1] += 1
        # every side of every tile sees exactly 10 px of context, from neighbours or reflection
        assert (x0 - rx0 + pl, rx1 - x1 + pr, y0 - ry0 + pt, ry1 - y1 + pb) == (10, 10, 10, 10)
    assert (cover == 1).all()
    whole = ap.upscale_tiled(rgb, 2, 0, _net_local)
    tiled = ap.upscale_tiled(rgb, 2, tile, _net_local)
    assert whole.shape == (2 * h, 2 * w, 3)
    # np.roll wraps around inside each padded tile, which spoils the outer 2 px of a tile's 10 px context
    # only: every output pixel must equal the whole image's
    assert np.array_equal(whole, tiled)


def test_whole_image_matches_the_reference_pipeline_formula():
    rgb = np.arange(12 * 14 * 3, dtype=np.uint32).reshape(12, 14, 3).astype(np.uint8)
    out = ap.upscale_tiled(rgb, 2, 0, lambda p: p.repeat(2, axis=1).repeat(2, axis=2))
    # identity network: x/255 -> trunc(x/255*255 + 0.5) gives the input back, nearest-upscaled
    assert np.array_equal(out, rgb.repeat(2, axis=0).repeat(2, axis=1))


@pytest.mark.skipif(not photos.BSD100.is_dir(), reason="../shared/sr-testsets/BSD100 is not here")
def test_mosaic_is_deterministic_and_made_of_unresampled_photos():
    img, used = photos.make_mosaic(1000, 700)
    assert img.shape == (700, 1000, 3) and len(used) == 9
    again, _ = photos.make_mosaic(1000, 700)
    assert np.array_equal(img, again)
    from PIL import Image
    first = np.asarray(Image.open(photos.BSD100 / used[0]).convert("RGB"))
    cw, ch = photos.splits(1000, 3)[0], photos.splits(700, 3)[0]
    oy, ox = (photos.SRC_H - ch) // 2, (photos.SRC_W - cw) // 2
    assert np.array_equal(img[:ch, :cw], first[oy:oy + ch, ox:ox + cw])
