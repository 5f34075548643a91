#!/usr/bin/env python3
"""export_teacher.py — turn an image classifier into an inficond teacher folder.

The classifier is a torchvision architecture (--arch resnet18 --weights FILE, a
state dict) or any nn.Module taking (N, 3, H, W) and returning (N, C) logits
(--module FILE.py:FACTORY, FACTORY(num_classes) returning the module). The folder
gets model.pt (TorchScript, traced or scripted in eval mode, checked against the
eager model) and manifest.json (kind teacher, input size, mean/std, classes).
Run it where PyTorch and the weights are; check the result with
`inficond model check OUT`. docs/MODELS.md walks through it.
"""
import argparse
import importlib.util
import json
import os
import sys

import torch

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def fail(msg):
    sys.exit(f"export_teacher: {msg}")


def read_classes(args):
    if args.classes and args.classes_file:
        fail("give --classes or --classes-file, not both")
    if args.classes:
        names = [c.strip() for c in args.classes.split(",")]
    elif args.classes_file:
        with open(args.classes_file, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    else:
        fail("name the output classes in order: --classes a,b,c or --classes-file FILE (one per line)")
    if not names or any(not n for n in names):
        fail("class names must be non-empty")
    if len(set(names)) != len(names):
        fail("a class name appears twice")
    return names


def load_state_dict(path):
    """A state dict from a file holding one, a {'state_dict'|'model': ...} checkpoint,
    or a whole pickled module; DataParallel's 'module.' prefix is dropped."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        fail(f"{path}: not a state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def build_module(args, n_classes):
    if bool(args.arch) == bool(args.module):
        fail("give --arch NAME (torchvision) or --module FILE.py:FACTORY")
    if args.arch:
        import torchvision.models as tvm
        if not hasattr(tvm, args.arch):
            fail(f"torchvision.models has no '{args.arch}'")
        # weights=None: never download; the user's file is loaded below.
        model = getattr(tvm, args.arch)(weights=None, num_classes=n_classes)
    else:
        path, _, factory = args.module.rpartition(":")
        if not path or not factory:
            fail("--module expects FILE.py:FACTORY")
        spec = importlib.util.spec_from_file_location("user_teacher", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        model = getattr(mod, factory)(n_classes)
    if args.weights:
        missing, unexpected = model.load_state_dict(load_state_dict(args.weights), strict=False)
        if missing or unexpected:
            fail(f"{args.weights} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
                 " (is the class count right?)")
    elif not args.random_weights:
        fail("give --weights FILE (a state dict), or --random-weights for a test model")
    return model.eval()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the teacher folder to write (created; must not hold a model.pt already)")
    p.add_argument("--arch", help="a torchvision.models name, e.g. resnet18, efficientnet_b0")
    p.add_argument("--module", help="FILE.py:FACTORY, FACTORY(num_classes) -> nn.Module returning logits")
    p.add_argument("--weights", help="state dict for the model (torch.save(model.state_dict(), FILE))")
    p.add_argument("--random-weights", action="store_true", help="export untrained weights (tests only)")
    p.add_argument("--classes", help="output class names in order, comma-separated")
    p.add_argument("--classes-file", help="output class names in order, one per line")
    p.add_argument("--size", type=int, default=224, help="input height and width in pixels (default 224)")
    p.add_argument("--mean", type=float, nargs=3, default=IMAGENET_MEAN, help="per-channel mean (default ImageNet)")
    p.add_argument("--std", type=float, nargs=3, default=IMAGENET_STD, help="per-channel std (default ImageNet)")
    p.add_argument("--script", action="store_true", help="torch.jit.script instead of trace (keeps control flow)")
    p.add_argument("--name", help="a name recorded in the manifest")
    p.add_argument("--force", action="store_true", help="overwrite an existing model.pt / manifest.json")
    args = p.parse_args()

    classes = read_classes(args)
    if torch.__version__.split(".")[0] != "1":
        print(f"export_teacher: warning: PyTorch {torch.__version__}; inficond's libtorch is 1.13 and may not "
              "load archives from newer versions (export with PyTorch 1.13 if `inficond model check` refuses it)",
              file=sys.stderr)
    model = build_module(args, len(classes))

    example = torch.rand(2, 3, args.size, args.size)  # (N, 3, H, W); N=2 so batch size is not baked in as 1
    with torch.no_grad():
        want = model(example)
        if tuple(want.shape) != (2, len(classes)):
            fail(f"the model returns {tuple(want.shape)} for (2, 3, {args.size}, {args.size}); "
                 f"expected (2, {len(classes)}) logits")
        exported = torch.jit.script(model) if args.script else torch.jit.trace(model, example)

    os.makedirs(args.out, exist_ok=True)
    pt = os.path.join(args.out, "model.pt")
    if os.path.exists(pt) and not args.force:
        fail(f"{pt} exists (use --force to overwrite)")
    exported.save(pt)

    # The saved archive must give the eager model's answer, at another batch size too.
    reloaded = torch.jit.load(pt, map_location="cpu")
    with torch.no_grad():
        got = reloaded(example)
        three = reloaded(torch.rand(3, 3, args.size, args.size))
    if not torch.allclose(got, want, atol=1e-4, rtol=1e-4):
        fail("the exported model does not reproduce the eager model's logits (try --script)")
    if tuple(three.shape) != (3, len(classes)):
        fail(f"the exported model returns {tuple(three.shape)} for a batch of 3 (try --script)")

    manifest = {
        "format": "inficond-model/1",
        "kind": "teacher",
        "file": "model.pt",
        "input": {"channels": 3, "height": args.size, "width": args.size,
                  "mean": list(args.mean), "std": list(args.std)},
        "methods": {"forward": "forward"},
        "classes": classes,
        "source": f"torchvision {args.arch}" if args.arch else f"module {os.path.basename(args.module)}",
    }
    if args.name:
        manifest["name"] = args.name
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(json.dumps({"folder": args.out, "classes": len(classes), "size": args.size, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
