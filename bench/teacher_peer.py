#!/usr/bin/python3
"""teacher_peer.py — the Python side of `inficond bench teacher`.

Runs the same TorchScript teacher over the same JPEG files with the same batch size,
doing the same work as the C path: decode (PIL, libjpeg-turbo underneath), resize to
the model's input (bilinear) when the size differs, to float in [0,1], normalise with
the manifest's mean/std, forward without autograd, softmax. One thread
(torch.set_num_threads(1)). Written the way one would write it in Python: per-image
decode into a uint8 array, then batch-wide tensor ops for the rest.

The model is prepared as the C path prepares it (shim_infer.cpp): eval, then
torch.jit.freeze (keeping the forward method when it is not `forward`) and
torch.jit.optimize_for_inference (conv + batch norm folding, oneDNN convolutions),
falling back to the module as loaded, for good, when the optimised one refuses an
input. MODE "plain" skips freeze and optimisation (the module as loaded), to show what
that one step is worth.

Usage: teacher_peer.py MODEL_DIR FILE_LIST BATCH WARMUP_BATCHES [optimized|plain]
Prints one JSON line: {"images": N, "seconds": S, "images_per_s": R, "checksum": X,
"mode": M, "optimized": B}; checksum is the sum of every image's class-0 probability,
as the C side sums it.
"""
import json
import sys
import time

import numpy as np
import torch
from PIL import Image


def main():
    model_dir, list_path, batch, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "optimized"
    if mode not in ("optimized", "plain"):
        sys.exit(f"teacher_peer.py: MODE must be optimized or plain, not {mode}")
    torch.set_num_threads(1)
    with open(f"{model_dir}/manifest.json") as f:
        mf = json.load(f)
    inp = mf["input"]
    c, h, w = inp["channels"], inp["height"], inp["width"]
    mean = torch.tensor(inp["mean"], dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(inp["std"], dtype=torch.float32).view(1, c, 1, 1)
    method = mf["methods"]["forward"]
    model = torch.jit.load(f"{model_dir}/{mf['file']}", map_location="cpu").eval()
    plain_fn = getattr(model, method)
    fn, optimized = plain_fn, False
    if mode == "optimized":
        keep = [] if method == "forward" else [method]
        try:
            fast = torch.jit.optimize_for_inference(torch.jit.freeze(model, preserved_attrs=keep), keep)
            fn, optimized = getattr(fast, method), True
        except Exception as e:  # the C path then runs the plain module too
            print(f"teacher_peer.py: not optimised ({e})", file=sys.stderr)
    with open(list_path) as f:
        files = [line.rstrip("\n") for line in f if line.strip()]

    def run(paths):
        arrs = []
        for p in paths:
            im = Image.open(p).convert("RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.BILINEAR)
            arrs.append(np.asarray(im))
        x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, h, w)
        if c == 1:
            x = x.mean(dim=1, keepdim=True)
        x = (x - mean) / std
        nonlocal fn, optimized
        with torch.no_grad():
            if optimized:
                try:
                    return torch.softmax(fn(x), dim=1)  # (B, classes)
                except RuntimeError:  # oneDNN refuses some shapes: as loaded, for good
                    fn, optimized = plain_fn, False
            return torch.softmax(fn(x), dim=1)

    batches = [files[i:i + batch] for i in range(0, len(files), batch)]
    for b in batches[:warmup]:  # the profiling executor optimises on the first calls
        run(b)
    t0 = time.perf_counter()
    checksum = 0.0
    for b in batches:
        checksum += float(run(b)[:, 0].sum())
    dt = time.perf_counter() - t0
    print(json.dumps({"images": len(files), "seconds": dt, "images_per_s": len(files) / dt,
                      "checksum": checksum, "mode": mode, "optimized": optimized}))


if __name__ == "__main__":
    main()
