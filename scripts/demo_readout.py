#!/usr/bin/env python3
"""demo_readout.py — how well a demo world's concept model tells the classes apart
through the words a tuned student keeps (no class words, no backgrounds), measured on val.

The tool the demo world's concept-model knobs were chosen with (its training items and
epochs, docs/ARCHITECTURE.md "The demo world"): it reads a world built by
`inficond demo --out DIR`, scores every scene with each corpus word (cosine of the word's
text embedding with the best of the 8x8 image embeddings: the grid maximum, the ceiling
of the product's segment presence), fits a multinomial logistic regression on the first
N training scenes' scores and prints its accuracy on val. It reads no test or shifted
scene. A proxy for the tuned student, which the product distils from the teacher over
segment presence: cheap (a minute) where the product path takes many.

  /usr/bin/python3 scripts/demo_readout.py DIR [--train N]

Needs torch and PIL (Debian: python3-torch is not packaged; any Python with both).
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image

CLASS_WORDS = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot']
BACKGROUNDS = ['grass', 'water', 'sand', 'wood', 'brick', 'snow']


def word_scores(model, words, rows, world):
    """(n, V) grid-maximum cosine of each scene with each word."""
    x = np.stack([np.asarray(Image.open(f"{world}/scenes/{r['file']}").convert('RGB'), np.float32) / 255
                  for r in rows])
    x = (torch.from_numpy(x).permute(0, 3, 1, 2) - 0.5) / 0.25  # the manifest's mean and std
    tokens = torch.zeros(len(words), 8, dtype=torch.long)
    tokens[:, 0] = torch.arange(1, len(words) + 1)  # the words tokenizer: line number, 1-based
    out = []
    with torch.no_grad():
        text = model.encode_text(tokens)  # (V, d), unit length
        for i in range(0, len(x), 256):
            grid = model.encode_image(x[i:i + 256])  # (b, d, 8, 8), unit length per location
            out.append(torch.einsum('vd,bdl->bvl', text, grid.flatten(2)).amax(2))
    return torch.cat(out)


def fit_and_score(xtr, ytr, xte, yte, l2=1e-3):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    w = torch.zeros(a.shape[1], 10, requires_grad=True)
    bias = torch.zeros(10, requires_grad=True)
    opt = torch.optim.LBFGS([w, bias], max_iter=300)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(a @ w + bias, ytr) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return ((b @ w + bias).argmax(1) == yte).float().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('world')
    ap.add_argument('--train', type=int, default=6000, help='training scenes to fit on (default 6000)')
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torch.jit.load(f'{args.world}/concepts/model.pt').eval()
    words = [w for w in open(f'{args.world}/concepts/words.txt').read().split('\n') if w]
    rows = [json.loads(line) for line in open(f'{args.world}/scenes/scenes.jsonl')]
    train = [r for r in rows if r['split'] == 'train'][:args.train]
    val = [r for r in rows if r['split'] == 'val']
    xtr, xva = word_scores(model, words, train, args.world), word_scores(model, words, val, args.world)
    ytr = torch.tensor([r['label_index'] for r in train])
    yva = torch.tensor([r['label_index'] for r in val])
    groups = {
        'tuned': [i for i, w in enumerate(words) if w not in CLASS_WORDS and w not in BACKGROUNDS],
        'untuned': [i for i, w in enumerate(words) if w not in CLASS_WORDS],
    }
    result = {'world': args.world, 'train_scenes': len(train), 'val_scenes': len(val)}
    for name, idx in groups.items():
        result[f'{name}_val_accuracy'] = round(fit_and_score(xtr[:, idx], ytr, xva[:, idx], yva), 4)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
