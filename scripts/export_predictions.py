#!/usr/bin/env python3
"""export_predictions.py — any teacher's outputs as a predictions file for inficond.

For a teacher inficond cannot run itself (not TorchScript, too big, behind an API):
run it here over the same images the dataset is imported from, then upload the file
(POST /api/v1/datasets/{id}/predictions?name=NAME, or the dataset page).

  IMAGES  a folder in the import's layout: <class>/<file>.jpg or <split>/<class>/<file>.jpg
  OUT     predictions.json ({"classes": [...], "predictions": {sha256: [p...]}}) or
          predictions.csv (key,<class>,... then one line per image)

Rows are keyed by the sha256 of each file's bytes: the server stores images under
that hash (file names are not kept), so the file matches however the folder is
uploaded (tar or server path). The teacher is one of:
  --teacher DIR            a teacher folder (export_teacher.py; manifest.json + model.pt)
  --torchscript FILE       a TorchScript classifier, with --size, --mean, --std, --classes
  --python FILE.py:FUNC    FUNC(images: list of PIL RGB images) -> (N, C) rows; the file
                           may set CLASSES = [...] (see scripts/teacher_function_example.py)
Rows are written as probabilities: logits (the default, --outputs logits) are softmaxed
here; --outputs probs keeps rows that already are.
"""
import argparse
import csv
import hashlib
import importlib.util
import json
import math
import os
import sys

JPEG_EXT = (".jpg", ".jpeg")


def fail(msg):
    sys.exit(f"export_predictions: {msg}")


def list_images(root):
    """[(path, class name)] of the .jpg files at <class>/<file> or <split>/<class>/<file>,
    sorted by path."""
    found = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames.sort()
        depth = os.path.relpath(dirpath, root).count(os.sep) + 1 if dirpath != root else 0
        for f in sorted(files):
            if f.lower().endswith(JPEG_EXT) and depth in (1, 2):
                found.append((os.path.join(dirpath, f), os.path.basename(dirpath)))
    if not found:
        fail(f"{root}: no .jpg files at <class>/<file>.jpg or <split>/<class>/<file>.jpg")
    return found


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def softmax(row):
    m = max(row)
    z = [math.exp(x - m) for x in row]
    s = sum(z)
    return [x / s for x in z]


def torch_predictor(model_path, size, mean, std, channels):
    """A callable images -> logits rows running a TorchScript classifier, preprocessed
    as the server does: the whole image resized to size x size (bilinear, no crop),
    /255, (x - mean) / std per channel; one channel is the mean of R, G, B."""
    import numpy as np
    import torch
    from PIL import Image
    model = torch.jit.load(model_path, map_location="cpu").eval()

    def predict(images):
        batch = []
        for im in images:
            x = np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0  # (H, W, 3)
            if channels == 1:
                x = x.mean(axis=2, keepdims=True)
            batch.append((x - np.array(mean, np.float32)) / np.array(std, np.float32))
        with torch.no_grad():
            return model(torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).contiguous()).tolist()  # (N, C)
    return predict


def build_teacher(args):
    """(predict, classes or None) from whichever teacher option was given."""
    if args.teacher:
        with open(os.path.join(args.teacher, "manifest.json"), encoding="utf-8") as f:
            m = json.load(f)
        if m.get("kind") != "teacher":
            fail(f"{args.teacher}: manifest kind is {m.get('kind')!r}, not 'teacher'")
        inp = m["input"]
        if inp["height"] != inp["width"]:
            fail("only square inputs are supported here")
        return torch_predictor(os.path.join(args.teacher, m["file"]), inp["height"], inp["mean"], inp["std"],
                               inp["channels"]), m["classes"]
    if args.torchscript:
        if not (args.size and args.classes):
            fail("--torchscript needs --size and --classes")
        return torch_predictor(args.torchscript, args.size, args.mean, args.std, 3), args.classes.split(",")
    path, _, func = args.python.rpartition(":")
    if not path or not func:
        fail("--python expects FILE.py:FUNC")
    spec = importlib.util.spec_from_file_location("user_predictions", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    classes = args.classes.split(",") if args.classes else getattr(mod, "CLASSES", None)
    return getattr(mod, func), classes


def column_order(teacher_classes, folder_classes, dataset_classes):
    """Indexes into the teacher's columns giving the dataset's class order, and that
    order. The dataset's classes are --dataset-classes, else the sorted class folder
    names (what an import of this folder into a new dataset creates)."""
    target = dataset_classes or sorted(set(folder_classes))
    if teacher_classes is None:
        return None, None
    if sorted(teacher_classes) == sorted(target):
        return [teacher_classes.index(c) for c in target], target
    print(f"export_predictions: warning: the teacher's classes {teacher_classes[:5]}... are not the dataset's "
          f"{target[:5]}...; writing the teacher's order (the upload needs one column per dataset class, "
          "in its order)", file=sys.stderr)
    return list(range(len(teacher_classes))), teacher_classes


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", help="the image folder (the one imported as the dataset)")
    p.add_argument("out", help="predictions.json or predictions.csv")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--teacher", help="a teacher folder (manifest.json + model.pt)")
    src.add_argument("--torchscript", help="a TorchScript classifier (N,3,H,W) -> (N,C) logits")
    src.add_argument("--python", help="FILE.py:FUNC, FUNC(list of PIL images) -> (N, C) rows")
    p.add_argument("--classes", help="the teacher's output classes in order, comma-separated")
    p.add_argument("--dataset-classes", help="the dataset's classes in order, when not its sorted folder names")
    p.add_argument("--size", type=int, help="--torchscript: input side in px")
    p.add_argument("--mean", type=float, nargs=3, default=[0.485, 0.456, 0.406])
    p.add_argument("--std", type=float, nargs=3, default=[0.229, 0.224, 0.225])
    p.add_argument("--outputs", choices=["logits", "probs"], default="logits", help="what the teacher returns")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    if not args.out.endswith((".json", ".csv")):
        fail("OUT must end in .json or .csv")

    from PIL import Image
    predict, teacher_classes = build_teacher(args)
    images = list_images(args.images)
    order, classes = column_order(teacher_classes, [c for _, c in images],
                                  args.dataset_classes.split(",") if args.dataset_classes else None)

    rows = {}  # sha256 -> probabilities; the same bytes twice are one image on the server
    for start in range(0, len(images), args.batch):
        chunk = images[start:start + args.batch]
        pil = [Image.open(path).convert("RGB") for path, _ in chunk]
        out = [list(map(float, r)) for r in predict(pil)]
        if len(out) != len(chunk):
            fail(f"the teacher returned {len(out)} rows for {len(chunk)} images")
        for (path, _), row in zip(chunk, out):
            if order is not None:
                if len(row) != len(order):
                    fail(f"{path}: {len(row)} values, but {len(order)} classes")
                row = [row[j] for j in order]
            if not all(math.isfinite(x) for x in row):
                fail(f"{path}: the teacher returned a value that is not finite")
            rows.setdefault(sha256_of(path), softmax(row) if args.outputs == "logits" else row)

    if args.out.endswith(".json"):
        doc = {"predictions": rows}
        if classes:
            doc = {"classes": classes, **doc}
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(doc, f)
    else:
        width = len(next(iter(rows.values())))
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["key", *(classes or [f"class{j}" for j in range(width)])])
            for sha, row in rows.items():
                w.writerow([sha, *(repr(x) for x in row)])
    print(json.dumps({"file": args.out, "images": len(rows), "classes": classes}))


if __name__ == "__main__":
    main()
