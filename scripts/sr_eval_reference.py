#!/usr/bin/env python3
"""Developer reference for `enhance eval`: the SR papers' evaluation protocol in NumPy.

MATLAB `imresize(..., 'bicubic')` (cubic a = -0.5, antialiased downscaling, symmetric borders, the dimension with
the smaller scale first), MATLAB `rgb2ycbcr` luma on uint8, PSNR and SSIM (Wang et al. 2004; 11x11 Gaussian,
sigma 1.5, 'valid') on Y with `scale` pixels shaved. Written from the MATLAB documentation of the algorithms; it
is not run by CI. `python3 scripts/sr_eval_reference.py DIR --scale 4` prints the bicubic baseline;
`--dump-resize OUT.json` writes small resize cases the Swift tests compare against.
"""
import argparse, glob, json, math, os, sys
import numpy as np
from PIL import Image


def cubic(x):
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) +
            (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def contributions(in_len, out_len, scale):
    kernel_width = 4.0
    if scale < 1:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    p = int(math.ceil(kernel_width)) + 2
    ind = left[:, None] + np.arange(p)[None, :]
    if scale < 1:
        w = scale * cubic(scale * (u[:, None] - ind))
    else:
        w = cubic(u[:, None] - ind)
    w = w / w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    ind = aux[np.mod(ind.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(w != 0, axis=0)
    return w[:, keep], ind[:, keep]


def resize_axis(img, axis, out_len, scale):
    w, ind = contributions(img.shape[axis], out_len, scale)
    moved = np.moveaxis(img, axis, 0)
    out = np.einsum('ij,ij...->i...', w, moved[ind])
    return np.moveaxis(out, 0, axis)


def imresize(img, scale=None, size=None):
    """img: float64 HxW[xC]; returns float64 (no rounding)."""
    h, w = img.shape[:2]
    if size is None:
        size = (int(math.ceil(h * scale)), int(math.ceil(w * scale)))
        scales = (scale, scale)
    else:
        scales = (size[0] / h, size[1] / w)
    order = np.argsort(scales, kind='stable')
    out = img.astype(np.float64)
    for axis in order:
        out = resize_axis(out, axis, size[axis], scales[axis])
    return out


def to_uint8(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def luma(rgb_u8):
    rgb = rgb_u8.astype(np.float64)
    y = 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255
    return np.round(y)


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return float('inf') if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def ssim(a, b):
    from numpy.lib.stride_tricks import sliding_window_view
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    k = np.outer(g, g); k /= k.sum()
    def filt(x):
        return np.einsum('ijkl,kl->ij', sliding_window_view(x, (11, 11)), k)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filt(a), filt(b)
    s11, s22, s12 = filt(a * a) - mu1 ** 2, filt(b * b) - mu2 ** 2, filt(a * b) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('folder', nargs='?')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--dump-resize')
    a = ap.parse_args()
    if a.dump_resize:
        rng = np.random.default_rng(7)
        cases = []
        for (h, w, kind, arg) in [(7, 9, 'scale', 1 / 2), (12, 10, 'scale', 1 / 4), (5, 6, 'scale', 3),
                                  (9, 8, 'size', (4, 13)), (11, 11, 'scale', 1 / 3)]:
            img = rng.uniform(0, 255, size=(h, w))
            out = imresize(img, scale=arg) if kind == 'scale' else imresize(img, size=arg)
            factor = (arg if arg >= 1 else -round(1 / arg)) if kind == 'scale' else 0
            cases.append({'height': h, 'width': w, 'input': img.ravel().tolist(), 'factor': factor,
                          'outHeight': out.shape[0], 'outWidth': out.shape[1], 'output': out.ravel().tolist()})
        json.dump(cases, open(a.dump_resize, 'w'))
        return
    s = a.scale
    ps, ss = [], []
    for path in sorted(glob.glob(os.path.join(a.folder, '*.png'))):
        im = Image.open(path)
        gray = im.mode in ('L', 'I;16', 'LA')
        hr = np.array(im.convert('L' if gray else 'RGB'))
        h, w = hr.shape[0] // s * s, hr.shape[1] // s * s
        hr = hr[:h, :w]
        lr = to_uint8(imresize(hr.astype(np.float64), scale=1 / s))
        sr = to_uint8(imresize(lr.astype(np.float64), scale=s))
        # MATLAB protocol: a gray image is its own Y (rgb2ycbcr only for colour images).
        y1, y2 = (hr.astype(np.float64), sr.astype(np.float64)) if gray else (luma(hr), luma(sr))
        y1, y2 = y1[s:-s, s:-s], y2[s:-s, s:-s]
        ps.append(psnr(y1, y2)); ss.append(ssim(y1, y2))
    print(f'{a.folder} x{s}: {len(ps)} images, bicubic PSNR {np.mean(ps):.2f} dB, SSIM {np.mean(ss):.4f}')


if __name__ == '__main__':
    main()
