#!/usr/bin/python3
"""teacher_forward.py — an independent forward pass of a teacher model folder, for
tests/api/models.test.mjs: python3-torch (Debian's, so /usr/bin/python3 explicitly)
and PIL, none of inficond's code.

  teacher_forward.py images OUT_DIR SIZE N SEED
      write N SIZExSIZE RGB JPEGs (quality 90, 4:2:0) as OUT_DIR/img-K.jpg: smooth
      colour gradients, a filled rectangle and noise, different per image.
  teacher_forward.py forward MODEL_DIR IMAGE...
      print {"classes": [...], "probs": [[...] per image]} as JSON: what the product's
      teacher.outputs job computes for each image, done here the textbook way.

The preprocessing is the product's (server/teacher.c teacher_preprocess and
server/jpeg_io.c jpeg_decode / image_to_chw), restated:
  - decode the JPEG to 8-bit RGB: PIL on Debian decodes with libjpeg-turbo, the
    library the server's TurboJPEG calls use, with the same defaults (integer slow
    DCT, fancy upsampling), so the pixels are the same bytes;
  - no resize: the images must already have the manifest's input size (the server's
    own resampler is not restated here; the caller makes images of that size);
  - x / 255, then (x - mean[c]) / std[c] per channel, as float32 (torchvision's
    ToTensor + Normalize order); for a 1-channel teacher the grey value is the mean
    of R, G and B in [0, 1], then (g - mean[0]) / std[0];
  - torch.jit.load(manifest.file), eval, the manifest's forward method on the
    (N, C, H, W) float32 batch, plain (no optimize_for_inference, which the server
    uses), softmax over classes in float64, rounded to float32.
"""
import json
import os
import random
import sys

import torch
from PIL import Image


def make_images(out_dir, size, n, seed):
    rnd = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    for k in range(n):
        c0 = [rnd.randrange(256) for _ in range(3)]
        c1 = [rnd.randrange(256) for _ in range(3)]
        x0, y0 = rnd.randrange(size // 2), rnd.randrange(size // 2)
        x1, y1 = x0 + rnd.randrange(4, size // 2), y0 + rnd.randrange(4, size // 2)
        box = [rnd.randrange(256) for _ in range(3)]
        img = Image.new('RGB', (size, size))
        px = img.load()
        for y in range(size):
            for x in range(size):
                t = (x + y) / (2 * size - 2)
                v = [int(c0[c] * (1 - t) + c1[c] * t) for c in range(3)]
                if x0 <= x < x1 and y0 <= y < y1:
                    v = box
                v = [min(255, max(0, v[c] + rnd.randrange(-20, 21))) for c in range(3)]
                px[x, y] = tuple(v)
        img.save(os.path.join(out_dir, f'img-{k}.jpg'), quality=90, subsampling=2)


def forward(model_dir, images):
    with open(os.path.join(model_dir, 'manifest.json')) as f:
        mf = json.load(f)
    inp = mf['input']
    ch, h, w = inp['channels'], inp['height'], inp['width']
    mean = torch.tensor(inp['mean'], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(inp['std'], dtype=torch.float32).view(-1, 1, 1)
    batch = []
    for path in images:
        with Image.open(path) as im:
            im = im.convert('RGB')
            if im.size != (w, h):
                sys.exit(f'{path}: {im.size[0]}x{im.size[1]}, but the teacher takes {w}x{h}: '
                         'resizing is not reproduced here, give images of the input size')
            rgb = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(h, w, 3)
        x = rgb.permute(2, 0, 1).to(torch.float32) / 255.0  # (3, H, W) in [0, 1]
        if ch == 1:
            x = ((x[0] + x[1] + x[2]) / 3.0).unsqueeze(0)
        elif ch != 3:
            sys.exit(f'manifest.input.channels: {ch}; only 1 or 3')
        batch.append((x - mean) / std)
    torch.set_num_threads(1)
    model = torch.jit.load(os.path.join(model_dir, mf['file']), map_location='cpu').eval()
    method = getattr(model, mf.get('methods', {}).get('forward', 'forward'))
    with torch.no_grad():
        logits = method(torch.stack(batch))  # (N, classes)
    probs = torch.softmax(logits.to(torch.float64), dim=1).to(torch.float32)
    print(json.dumps({'classes': mf['classes'], 'probs': probs.tolist()}))


def main(argv):
    if len(argv) == 6 and argv[1] == 'images':
        make_images(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif len(argv) >= 4 and argv[1] == 'forward':
        forward(argv[2], argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
