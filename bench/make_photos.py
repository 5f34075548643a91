#!/usr/bin/python3
"""make_photos.py — photo-sized test JPEGs for `inficond bench extract` with a real-size CLIP.

No photographs ship with the machine, and the demo scenes are 64x64; a 224-pixel CLIP
should see camera-sized images that it has to shrink (the resize is part of the path
being timed). Each image: a smooth two-colour gradient, a few filled ellipses and
rectangles in random colours, mild noise; sizes drawn from 320..800 x 240..600;
quality 90, 4:2:0. Deterministic for a seed.

Usage: make_photos.py OUT_DIR [--n 16] [--seed 1]
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageDraw


def photo(rng):
    w, h = int(rng.integers(320, 801)), int(rng.integers(240, 601))
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w)[None, :, None] * 0.6 + np.linspace(0, 1, h)[:, None, None] * 0.4
    img = Image.fromarray((a * (1 - t) + b * t).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-8, 9, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for i in range(args.n):
        photo(rng).save(os.path.join(args.out, f"photo_{i:04d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
