#!/usr/bin/python3
"""naclip_reference.py — dense per-patch CLIP features by NACLIP's rule, in plain PyTorch.

The reference the shim's dense CLIP runner (shim/shim_dense_clip.cpp) is checked
against, written here from the rule (Hajimiri et al., "Pay Attention to Your
Neighbours", WACV 2025) and OpenAI's ViT layout, reading the parameters of an
OpenAI-layout archive by name. For a ViT with L blocks, input (B, 3, H, W), patch p,
grid (gh, gw) = (H/p, W/p), T = 1 + gh*gw tokens of width W:

  x = conv1(image) (stride p) -> (B, gh*gw, W); prepend class_embedding;
      + positional_embedding (its (g, g) patch part resized bicubically to (gh, gw)
      when the grid differs, align_corners=False; the class position kept); ln_pre
  blocks 0..L-2 as trained: x = x + out_proj(MHA(ln_1(x))); x = x + c_proj(QuickGELU(c_fc(ln_2(x))))
      (in_proj packs q, k, v in that order; logits q k^T / sqrt(d_head) per head)
  block L-1, attention only, on y = ln_1(x):
      naclip:   logits = k k^T / sqrt(d_head) + omega, omega[i, j] = exp(-((r_i - r_j)^2 +
                (c_i - c_j)^2) / (2 sigma^2)) between patch tokens at grid (r, c), 0 in the
                class token's row and column; softmax; times v; out_proj
      maskclip: every token attends to itself only: out_proj(v)
      no residual, no MLP
  ln_post on every patch token, @ proj -> (B, E, gh, gw)

`plain` is OpenAI's own forward (all blocks as trained, ln_post on the class token,
@ proj): comparing it with the archive's traced encode_image checks this file's
reading of the layout (head count, q/k/v packing, QuickGELU) against the graph.

Usage:
  naclip_reference.py ARCHIVE --input X.f32 --shape H,W [--method naclip|maskclip]
                      [--std 5] [--heads N] [--double] --compare PRODUCT.f32
      X.f32: one preprocessed image (3, H, W) float32; PRODUCT.f32: the product's
      (E, gh, gw) for it. Prints {"min_cos", "mean_cos", "max_abs", "patches"}.
  naclip_reference.py ARCHIVE --check-plain [--heads N]
      Prints {"min_cos", "max_rel"} between `plain` and the archive's encode_image
      on a random batch at the archive's own size.
  naclip_reference.py --jobs JOBS.json
      Many comparisons in one process (float64): JOBS.json is a list of {archive,
      input, shape: [H, W], product, method, std, heads, check_plain}; prints a list
      of the results above (with "plain_vs_archive" where check_plain is true).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def visual_params(archive):
    """The archive's visual.* parameters (float32, names without 'visual.')."""
    m = torch.jit.load(archive, map_location="cpu")
    return {k[len("visual."):]: v.detach().float() for k, v in m.named_parameters() if k.startswith("visual.")}


def layers_of(p):
    n = 0
    while f"transformer.resblocks.{n}.ln_1.weight" in p:
        n += 1
    return n


def positional(p, gh, gw):
    """(1 + gh*gw, W): the class position, then the patch grid resized when it differs."""
    pos = p["positional_embedding"]
    g = int(round(math.sqrt(pos.shape[0] - 1)))
    if (gh, gw) == (g, g):
        return pos
    grid = pos[1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)  # (1, W, g, g)
    grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
    return torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(gh * gw, -1)])


def embed(p, x):
    """(B, 3, H, W) -> ln_pre(tokens) (B, T, W), and the grid (gh, gw)."""
    w = p["conv1.weight"]
    patch = w.shape[-1]
    feats = F.conv2d(x, w, stride=patch)  # (B, W, gh, gw)
    B, W, gh, gw = feats.shape
    tokens = torch.cat([p["class_embedding"].expand(B, 1, W), feats.flatten(2).transpose(1, 2)], dim=1)
    tokens = tokens + positional(p, gh, gw)
    return F.layer_norm(tokens, (W,), p["ln_pre.weight"], p["ln_pre.bias"]), gh, gw


def qkv(p, i, y, heads):
    """ln_1 output y (B, T, W) -> q, k, v, each (B, heads, T, d_head)."""
    pre = f"transformer.resblocks.{i}.attn."
    B, T, W = y.shape
    packed = F.linear(y, p[pre + "in_proj_weight"], p[pre + "in_proj_bias"])  # (B, T, 3W): q | k | v
    q, k, v = packed.view(B, T, 3, heads, W // heads).permute(2, 0, 3, 1, 4)
    return q, k, v


def out_proj(p, i, o):
    """(B, heads, T, d_head) -> (B, T, W) through out_proj."""
    pre = f"transformer.resblocks.{i}.attn.out_proj."
    B, H, T, d = o.shape
    return F.linear(o.transpose(1, 2).reshape(B, T, H * d), p[pre + "weight"], p[pre + "bias"])


def ln(p, name, x):
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"])


def block(p, i, x, heads):
    """One ResidualAttentionBlock as trained."""
    pre = f"transformer.resblocks.{i}."
    q, k, v = qkv(p, i, ln(p, pre + "ln_1", x), heads)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    x = x + out_proj(p, i, a @ v)
    h = F.linear(ln(p, pre + "ln_2", x), p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"])
    h = h * torch.sigmoid(1.702 * h)  # QuickGELU
    return x + F.linear(h, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])


def gaussian_prior(gh, gw, std, dtype):
    """omega (T, T): exp(-squared grid distance / (2 std^2)) between patches, 0 for the class token."""
    r = torch.arange(gh * gw, dtype=torch.float64) // gw
    c = torch.arange(gh * gw, dtype=torch.float64) % gw
    d2 = (r[:, None] - r[None, :]) ** 2 + (c[:, None] - c[None, :]) ** 2
    omega = torch.zeros(1 + gh * gw, 1 + gh * gw, dtype=torch.float64)
    omega[1:, 1:] = torch.exp(-d2 / (2 * std * std))
    return omega.to(dtype)


def dense(p, x, method="naclip", std=5.0, heads=None):
    """(B, 3, H, W) -> (B, E, gh, gw) by the rule in the header."""
    L = layers_of(p)
    W = p["conv1.weight"].shape[0]
    heads = heads or W // 64
    x, gh, gw = embed(p, x)
    for i in range(L - 1):
        x = block(p, i, x, heads)
    last = L - 1
    q, k, v = qkv(p, last, ln(p, f"transformer.resblocks.{last}.ln_1", x), heads)
    if method == "naclip":
        logits = k @ k.transpose(-1, -2) / math.sqrt(k.shape[-1]) + gaussian_prior(gh, gw, std, k.dtype)
        o = torch.softmax(logits, dim=-1) @ v
    elif method == "maskclip":
        o = v
    else:
        raise ValueError(f"unknown method {method}")
    x = out_proj(p, last, o)  # no residual, no MLP
    x = ln(p, "ln_post", x[:, 1:]) @ p["proj"]  # (B, gh*gw, E)
    return x.transpose(1, 2).reshape(x.shape[0], -1, gh, gw)


def plain(p, x, heads=None):
    """OpenAI's VisionTransformer.forward: (B, 3, H, W) -> (B, E)."""
    heads = heads or p["conv1.weight"].shape[0] // 64
    x, _, _ = embed(p, x)
    for i in range(layers_of(p)):
        x = block(p, i, x, heads)
    return ln(p, "ln_post", x[:, 0]) @ p["proj"]


def check_plain(archive, heads):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
    from extract_peer import needs_patch, patch_openai  # OpenAI's CUDA/fp16 archives, as clip.load does

    m = torch.jit.load(archive, map_location="cpu")
    m = patch_openai(m) if needs_patch(m, "encode_image") else m.float()
    p = visual_params(archive)
    side = int(round(math.sqrt(p["positional_embedding"].shape[0] - 1))) * p["conv1.weight"].shape[-1]
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = m.encode_image(x).float()
        got = plain(p, x, heads)
    cos = F.cosine_similarity(got, want, dim=1)
    return {"min_cos": float(cos.min()), "max_rel": float((got - want).norm() / want.norm())}


def compare(archive, inp, shape, product, method="naclip", std=5.0, heads=None, double=True, cache={}):
    """Per-patch cosine between the product's (E, gh, gw) for one image and the reference's."""
    dtype = torch.float64 if double else torch.float32
    key = (archive, dtype)
    if key not in cache:
        cache[key] = {k: v.to(dtype) for k, v in visual_params(archive).items()}
    H, W = shape
    x = torch.from_numpy(np.fromfile(inp, dtype="<f4")).view(1, 3, H, W).to(dtype)
    want = dense(cache[key], x, method, std, heads)[0]  # (E, gh, gw)
    got = torch.from_numpy(np.fromfile(product, dtype="<f4")).to(dtype)
    if got.numel() != want.numel():
        return {"error": f"product has {got.numel()} values, reference {list(want.shape)}"}
    got = got.view_as(want)
    cos = F.cosine_similarity(got.flatten(1), want.flatten(1), dim=0)  # (gh*gw) per patch
    return {"min_cos": float(cos.min()), "mean_cos": float(cos.mean()), "max_abs": float((got - want).abs().max()),
            "patches": cos.numel(), "shape": list(want.shape)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archive", nargs="?")
    ap.add_argument("--input")
    ap.add_argument("--shape", help="H,W of the input")
    ap.add_argument("--method", default="naclip", choices=["naclip", "maskclip"])
    ap.add_argument("--std", type=float, default=5.0)
    ap.add_argument("--heads", type=int, default=0)
    ap.add_argument("--double", action="store_true", help="compute in float64")
    ap.add_argument("--compare")
    ap.add_argument("--check-plain", action="store_true")
    ap.add_argument("--jobs", help="a JSON list of {archive, input, shape: [H, W], product, method, std, heads}")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with torch.no_grad():
        if args.jobs:
            with open(args.jobs) as f:
                jobs = json.load(f)
            out = []
            for j in jobs:
                r = compare(j["archive"], j["input"], j["shape"], j["product"], j.get("method", "naclip"),
                            float(j.get("std", 5.0)), j.get("heads") or None)
                if j.get("check_plain"):
                    r["plain_vs_archive"] = check_plain(j["archive"], j.get("heads") or None)
                out.append(r)
            print(json.dumps(out))
            return 0
        if not args.archive:
            ap.error("an archive is needed (or --jobs)")
        if args.check_plain:
            print(json.dumps(check_plain(args.archive, args.heads or None)))
            return 0
        if not (args.input and args.shape and args.compare):
            ap.error("--input, --shape and --compare are needed (or --check-plain)")
        shape = [int(v) for v in args.shape.split(",")]
        print(json.dumps(compare(args.archive, args.input, shape, args.compare, args.method, args.std,
                                 args.heads or None, args.double)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
