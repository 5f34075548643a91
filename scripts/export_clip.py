#!/usr/bin/env python3
"""export_clip.py — turn a CLIP model into an inficond concept folder.

Three sources:
  --openai FILE.pt        one of OpenAI's released CLIP archives (traced TorchScript
                          with CUDA and fp16 baked in). Copied as it is; the manifest
                          says patch_openai_jit so inficond rewrites it to CPU/float32.
  --open-clip ARCH        an open_clip model (pip install open_clip_torch), weights
                          from --pretrained (a file or an open_clip tag); traced to
                          TorchScript with its encode_image / encode_text methods.
  --module FILE.py:FACTORY  any nn.Module with encode_image (N,3,H,W)->(N,D) and
                          encode_text (N,context) int64 -> (N,D); FACTORY() builds it.

--encoder global (one vector per image, the default) or dense (one per patch: the
server runs the ViT's own visual.* weights NACLIP-style, --size may be raised to 336 or
448 for a finer grid; positional embeddings are interpolated). The BPE vocabulary
(--vocab bpe_simple_vocab_16e6.txt.gz) is copied in; embedding_dim and the context
length are read from the model. Check with `inficond model check OUT`; docs/MODELS.md.
"""
import argparse
import importlib.util
import json
import math
import os
import shutil
import sys

import torch

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
SOT, EOT = 49406, 49407  # CLIP BPE <|startoftext|>, <|endoftext|>


def fail(msg):
    sys.exit(f"export_clip: {msg}")


def openai_geometry(state):
    """(native input size, patch size or None, embedding_dim, context_length) from an
    OpenAI-layout state dict: ViT (visual.conv1 / visual.positional_embedding) or
    ResNet (visual.attnpool)."""
    dim = state["text_projection"].shape[1]
    context = state["positional_embedding"].shape[0]
    if "visual.proj" in state:
        patch = state["visual.conv1.weight"].shape[-1]
        grid = math.isqrt(state["visual.positional_embedding"].shape[0] - 1)
        return grid * patch, patch, dim, context
    grid = math.isqrt(state["visual.attnpool.positional_embedding"].shape[0] - 1)
    return grid * 32, None, dim, context


def dense_section(args, patch):
    if patch is None:
        fail("--encoder dense needs a ViT (its visual.conv1 / visual.proj weights); this model is a ResNet")
    return {"from": "clip-vit", "method": "naclip", "gaussian_std": args.gaussian_std}


def check_size(args, native, patch):
    """The input side: the model's own for global; for dense any multiple of the patch."""
    size = args.size or native
    if args.encoder == "global" and size != native:
        fail(f"--size {size}: a global encoder runs at the model's own {native} px (only dense may change it)")
    if args.encoder == "dense" and patch and size % patch:
        fail(f"--size {size} is not a multiple of the patch size {patch}")
    return size


def from_openai(args):
    try:
        model = torch.jit.load(args.openai, map_location="cpu")
    except RuntimeError as exc:
        fail(f"{args.openai}: not a TorchScript archive ({str(exc).splitlines()[0]}); "
             "OpenAI's released .pt files are; for a state dict use --open-clip or --module")
    native, patch, dim, context = openai_geometry(model.state_dict())
    size = check_size(args, native, patch)
    shutil.copyfile(args.openai, os.path.join(args.out, "model.pt"))
    return {"size": size, "dim": dim, "context": context, "mean": OPENAI_MEAN, "std": OPENAI_STD,
            "patch": patch, "patch_openai_jit": True, "source": f"openai {os.path.basename(args.openai)}"}


def load_module(args):
    if args.open_clip:
        import open_clip  # only needed for this source
        model = open_clip.create_model(args.open_clip, pretrained=args.pretrained)
        source = f"open_clip {args.open_clip} {args.pretrained or ''}".strip()
    else:
        path, _, factory = args.module.rpartition(":")
        if not path or not factory:
            fail("--module expects FILE.py:FACTORY")
        spec = importlib.util.spec_from_file_location("user_clip", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        model = getattr(mod, factory)()
        source = f"module {os.path.basename(args.module)}"
    return model.float().eval(), source


def from_module(args):
    """Trace encode_image and encode_text into one TorchScript archive."""
    model, source = load_module(args)
    visual = getattr(model, "visual", None)
    native = args.size or getattr(visual, "image_size", None)
    if isinstance(native, (tuple, list)):
        native = native[0]
    if not native:
        fail("the model does not say its input size: give --size")
    context = getattr(model, "context_length", 77)
    mean = list(getattr(visual, "image_mean", None) or OPENAI_MEAN)
    std = list(getattr(visual, "image_std", None) or OPENAI_STD)
    state = model.state_dict()
    patch = state["visual.conv1.weight"].shape[-1] if "visual.conv1.weight" in state else None
    if args.encoder == "dense":
        for k in ("visual.conv1.weight", "visual.positional_embedding", "visual.proj"):
            if k not in state:
                fail(f"--encoder dense needs OpenAI-layout ViT weights; the model has no '{k}'")
        native = args.size or native
    size = check_size(args, native, patch) if args.encoder == "dense" else native

    image = torch.rand(2, 3, native, native)  # (N, 3, H, W); N=2 keeps the batch free
    tokens = torch.zeros(2, context, dtype=torch.long)  # (N, context)
    tokens[:, 0], tokens[:, 1], tokens[:, 2] = SOT, 320, EOT
    with torch.no_grad():
        want_i, want_t = model.encode_image(image), model.encode_text(tokens)
        traced = torch.jit.trace_module(model, {"encode_image": image, "encode_text": tokens})
    if want_i.dim() != 2 or want_t.shape != want_i.shape:
        fail(f"encode_image gives {tuple(want_i.shape)} and encode_text {tuple(want_t.shape)}; expected (2, D) both")
    pt = os.path.join(args.out, "model.pt")
    traced.save(pt)
    back = torch.jit.load(pt, map_location="cpu")
    with torch.no_grad():
        ok = (torch.allclose(back.encode_image(image), want_i, atol=1e-4, rtol=1e-4) and
              torch.allclose(back.encode_text(tokens), want_t, atol=1e-4, rtol=1e-4) and
              back.encode_image(torch.rand(3, 3, native, native)).shape[0] == 3 and
              back.encode_text(tokens[:1].repeat(3, 1)).shape[0] == 3)
    if not ok:
        fail("the traced model does not reproduce the eager model's embeddings")
    return {"size": size, "dim": want_i.shape[1], "context": context, "mean": mean, "std": std,
            "patch": patch, "patch_openai_jit": False, "source": source}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the concept folder to write (created)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--openai", help="an OpenAI CLIP archive, e.g. ViT-B-32.pt")
    src.add_argument("--open-clip", help="an open_clip architecture name, e.g. ViT-B-32")
    src.add_argument("--module", help="FILE.py:FACTORY returning a module with encode_image / encode_text")
    p.add_argument("--pretrained", help="open_clip weights: a file or a tag (e.g. laion2b_s34b_b79k)")
    p.add_argument("--vocab", required=True, help="the BPE merges file, bpe_simple_vocab_16e6.txt.gz")
    p.add_argument("--encoder", choices=["global", "dense"], default="global")
    p.add_argument("--size", type=int, help="input side in px (dense only: e.g. 336 or 448 for a finer grid)")
    p.add_argument("--gaussian-std", type=float, default=5.0, help="dense: NACLIP's attention Gaussian std")
    p.add_argument("--name", help="a name recorded in the manifest")
    args = p.parse_args()

    if not os.path.isfile(args.vocab):
        fail(f"--vocab {args.vocab}: no such file")
    if torch.__version__.split(".")[0] != "1" and not args.openai:
        print(f"export_clip: warning: PyTorch {torch.__version__}; inficond's libtorch is 1.13 and may not "
              "load archives from newer versions", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    got = from_openai(args) if args.openai else from_module(args)
    vocab = os.path.basename(args.vocab)
    shutil.copyfile(args.vocab, os.path.join(args.out, vocab))

    manifest = {
        "format": "inficond-model/1",
        "kind": "concept",
        "encoder": args.encoder,
        "file": "model.pt",
        "input": {"channels": 3, "height": got["size"], "width": got["size"], "mean": got["mean"], "std": got["std"]},
        "methods": {"image": "encode_image", "text": "encode_text"},
        "embedding_dim": int(got["dim"]),
        "tokenizer": {"type": "clip-bpe", "vocab": vocab, "context_length": int(got["context"])},
        "patch_openai_jit": got["patch_openai_jit"],
        "source": got["source"],
    }
    if args.encoder == "dense":
        manifest["dense"] = dense_section(args, got["patch"])
    if args.name:
        manifest["name"] = args.name
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(json.dumps({"folder": args.out, "encoder": args.encoder, "size": got["size"],
                      "embedding_dim": int(got["dim"]), "context_length": int(got["context"])}))


if __name__ == "__main__":
    main()
