#!/usr/bin/python3
"""make_clip_vit.py — write a random-weight CLIP archive laid out as OpenAI's.

A TorchScript file traced the way OpenAI released theirs (encode_image, encode_text,
forward), from modules named as in openai/CLIP's model.py, so its parameters carry
OpenAI's names: visual.conv1.weight, visual.class_embedding, visual.positional_embedding,
visual.ln_pre.*, visual.transformer.resblocks.N.{ln_1, attn.in_proj_weight,
attn.in_proj_bias, attn.out_proj.*, ln_2, mlp.c_fc.*, mlp.c_proj.*}, visual.ln_post.*,
visual.proj, and the text tower (token_embedding, positional_embedding, transformer,
ln_final, text_projection). Written here from that layout, not copied.

Every parameter is drawn at random (biases and layer-norm gains included, which
PyTorch would otherwise start at 0 and 1), so a reader that mixes up q/k/v packing,
a bias or a gain gives different numbers. Same seed, same archive.

Presets:
  tiny   48x48 input, patch 8 (6x6 grid), width 128, 2 layers, 2 heads, embed 64,
         text width 32, 1 layer, vocab 49408, context 77 (a few MB; for the tests)
  b16    224x224, patch 16, width 768, 12 layers, 12 heads, embed 512 (ViT-B/16's
         shapes; text tower 512 wide, 12 layers), for the benchmark
  b32    the same with patch 32 (ViT-B/32's shapes)
Variants: --no-proj (no visual.proj: the missing-parameter case), --resnet (a small
ResNet-style visual tower with an attention pool, as OpenAI's RN50: no ViT).

Usage: make_clip_vit.py OUT.pt [--preset tiny|b16|b32] [--seed N] [--no-proj | --resnet]
Prints one JSON line: {"file", "image", "patch", "width", "layers", "heads", "embed"}.
"""
import argparse
import json
import sys
from collections import OrderedDict

import torch
from torch import nn

PRESETS = {
    "tiny": dict(image=48, patch=8, width=128, layers=2, heads=2, embed=64, text_width=32, text_layers=1,
                 text_heads=2),
    "b16": dict(image=224, patch=16, width=768, layers=12, heads=12, embed=512, text_width=512, text_layers=12,
                text_heads=8),
    "b32": dict(image=224, patch=32, width=768, layers=12, heads=12, embed=512, text_width=512, text_layers=12,
                text_heads=8),
}
VOCAB = 49408
CONTEXT = 77


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)
        self.attn_mask = attn_mask

    def forward(self, x):  # x: (L, N, D), sequence first as in OpenAI's code
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, image, patch, width, layers, heads, embed, proj=True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((image // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, embed)) if proj else None

    def forward(self, x):
        x = self.conv1(x)  # (N, width, g, g)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # (N, g*g, width)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)  # (T, N, width)
        x = self.transformer(x).permute(1, 0, 2)
        x = self.ln_post(x[:, 0, :])
        return x @ self.proj if self.proj is not None else x


class AttentionPool(nn.Module):
    """OpenAI's AttentionPool2d names (positional_embedding, k/q/v/c_proj), simplified."""

    def __init__(self, cells, width, embed):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.zeros(cells + 1, width))
        self.k_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.c_proj = nn.Linear(width, embed)

    def forward(self, x):  # (N, C, h, w)
        x = x.flatten(2).permute(0, 2, 1)
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding
        q = self.q_proj(x[:, :1])
        a = torch.softmax(q @ self.k_proj(x).transpose(1, 2) / x.shape[-1] ** 0.5, dim=-1)
        return self.c_proj(a @ self.v_proj(x))[:, 0]


class ResNetVisual(nn.Module):
    def __init__(self, image, width, embed):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False))
        self.attnpool = AttentionPool((image // 4) ** 2, width, embed)

    def forward(self, x):
        return self.attnpool(self.layer1(torch.relu(self.bn1(self.conv1(x)))))


class CLIP(nn.Module):
    def __init__(self, cfg, proj=True, resnet=False):
        super().__init__()
        if resnet:
            self.visual = ResNetVisual(cfg["image"], cfg["width"], cfg["embed"])
        else:
            self.visual = VisionTransformer(cfg["image"], cfg["patch"], cfg["width"], cfg["layers"], cfg["heads"],
                                            cfg["embed"], proj)
        tw = cfg["text_width"]
        mask = torch.full((CONTEXT, CONTEXT), float("-inf")).triu_(1)  # causal, as OpenAI's text side
        self.transformer = Transformer(tw, cfg["text_layers"], cfg["text_heads"], mask)
        self.token_embedding = nn.Embedding(VOCAB, tw)
        self.positional_embedding = nn.Parameter(torch.zeros(CONTEXT, tw))
        self.ln_final = nn.LayerNorm(tw)
        self.text_projection = nn.Parameter(torch.zeros(tw, cfg["embed"] if proj or resnet else cfg["width"]))

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        a = self.encode_image(image)
        b = self.encode_text(text)
        a = a / a.norm(dim=1, keepdim=True)
        b = b / b.norm(dim=1, keepdim=True)
        return a @ b.t(), b @ a.t()


def randomise(model, gen):
    """Every parameter at random, scaled so activations stay O(1) through the blocks."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight",
                              "bn1.weight")):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                if name.endswith(("proj", "projection")):  # used as x @ proj
                    fan_in = p.shape[0]
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--no-proj", action="store_true")
    group.add_argument("--resnet", action="store_true")
    args = ap.parse_args()
    cfg = PRESETS[args.preset]
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed)
    model = CLIP(cfg, proj=not args.no_proj, resnet=args.resnet).eval()
    randomise(model, gen)
    image = torch.randn(1, 3, cfg["image"], cfg["image"], generator=gen)
    text = torch.zeros(1, CONTEXT, dtype=torch.long)
    text[0, :3] = torch.tensor([49406, 320, 49407])
    with torch.no_grad():
        traced = torch.jit.trace_module(model, {"forward": (image, text), "encode_image": image,
                                                "encode_text": text})
    traced.save(args.out)
    print(json.dumps({"file": args.out, **{k: cfg[k] for k in ("image", "patch", "width", "layers", "heads", "embed")},
                      "resnet": args.resnet, "proj": not args.no_proj}))


if __name__ == "__main__":
    sys.exit(main())
