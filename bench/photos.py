#!/usr/bin/env python3
"""Deterministic whole-photo inputs for ``bench/anchors.py --photo``.

The project ships no photograph of 1000x700 pixels or more (the test sets in
``../shared/sr-testsets`` hold BSD100's 480x320 photos), and a photo enlarged by
a plain resize is not a photo (its fine detail is gone, and the networks see
it).  So a large input is a mosaic of real photographs at their native
resolution: the landscape (480x320) BSD100 photos, in file-name order, each
centre-cropped (no resampling) to its cell of a ``cols x rows`` grid that fills
``W x H`` exactly.  Cell widths split W as evenly as possible (the first cells
get the extra pixel), the same for heights.

* 1000x700:  3 x 3 grid, cells 334/333/333 x 234/233/233, the first 9 photos
* 2000x1500: 5 x 5 grid, cells 400 x 300, the first 25 photos

Any other size picks the grid with cells of at most 480x320 and the fewest
cells.  Needs numpy and Pillow.

    python3 bench/photos.py 1000x700 2000x1500 --out out/anchors
"""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BSD100 = REPO.parent / "shared" / "sr-testsets" / "BSD100"
SRC_W, SRC_H = 480, 320


def splits(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def grid_for(width: int, height: int) -> tuple[int, int]:
    return math.ceil(width / SRC_W), math.ceil(height / SRC_H)


def landscape_photos(source: Path = BSD100) -> list[Path]:
    from PIL import Image
    paths = []
    for p in sorted(source.glob("*.png")):
        with Image.open(p) as im:
            if im.size == (SRC_W, SRC_H):
                paths.append(p)
    return paths


def make_mosaic(width: int, height: int, source: Path = BSD100):
    """(H, W, 3) uint8 mosaic and the list of photos used, row by row."""
    import numpy as np
    from PIL import Image
    cols, rows = grid_for(width, height)
    photos = landscape_photos(source)
    if len(photos) < cols * rows:
        raise ValueError(f"{width}x{height} needs {cols * rows} landscape photos, {source} has {len(photos)}")
    out = np.zeros((height, width, 3), dtype=np.uint8)
    used = []
    k = 0
    y = 0
    for ch in splits(height, rows):
        x = 0
        for cw in splits(width, cols):
            with Image.open(photos[k]) as im:
                a = np.asarray(im.convert("RGB"))
            oy, ox = (SRC_H - ch) // 2, (SRC_W - cw) // 2
            out[y:y + ch, x:x + cw] = a[oy:oy + ch, ox:ox + cw]
            used.append(photos[k].name)
            k += 1
            x += cw
        y += ch
    return out, used


def write_photo(width: int, height: int, out_dir: Path) -> tuple[Path, list[str], str]:
    """Write ``photo-WxH.png`` (PNG, compression 6) and return (path, photos used, sha256)."""
    from PIL import Image
    img, used = make_mosaic(width, height)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"photo-{width}x{height}.png"
    Image.fromarray(img).save(path, compress_level=6)
    return path, used, hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="+", help="WxH")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "anchors")
    args = ap.parse_args()
    for s in args.sizes:
        w, h = (int(v) for v in s.lower().split("x"))
        path, used, digest = write_photo(w, h, args.out)
        print(f"{path}  sha256 {digest}  grid {'x'.join(map(str, grid_for(w, h)))}: {' '.join(used)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
