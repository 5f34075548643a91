"""teacher_function_example.py — the pattern for export_predictions.py --python: copy
this file, load your teacher once at import, and make predict() return one row of
logits (or, with --outputs probs, probabilities) per image, columns in CLASSES order.

    /usr/bin/python3 scripts/export_predictions.py images/ predictions.csv \
        --python my_teacher.py:predict

This example's "teacher" needs no weights: it scores each image by its mean red,
green and blue, so it runs anywhere (the tests use it). Replace its body with, e.g.,
a timm or Keras model, an ONNX session, or a call to a hosted API.
"""

# The teacher's output classes, in the order of predict()'s columns.
CLASSES = ["red", "green", "blue"]

# Load the real model here, once (e.g. MODEL = timm.create_model(..., pretrained=True).eval()).


def predict(images):
    """images: a list of PIL RGB images -> a list of rows, one per image, len(CLASSES) each."""
    rows = []
    for im in images:
        small = im.resize((8, 8))
        pixels = list(small.getdata())  # 64 (r, g, b) tuples
        mean = [sum(p[c] for p in pixels) / len(pixels) / 255.0 for c in range(3)]
        rows.append([4.0 * m for m in mean])  # logits: brighter channel, likelier class
    return rows
