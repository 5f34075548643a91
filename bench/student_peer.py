#!/usr/bin/env python3
"""bench/student_peer.py — the PyTorch peer of `inficond bench student`, in the style
of the paper's student training: a Linear(D, C) layer (one linear model per class),
binary cross-entropy with logits against the teacher's probabilities plus lambda times
the L1 norm of the weights, Adam (lr 1e-3), minibatches of 256, 100 epochs, one thread.

The loss is written so that it is the same objective the C solver minimises: the sum
over classes of the per-class mean BCE, plus lambda |W|_1. It reads the same raw
little-endian float32 files (X: N x D, P: N x C). Prints one line per epoch (cumulative
training seconds, fidelity = argmax agreement with P on those rows; evaluation time is
not counted; also the process's CPU seconds, less inflated on a loaded machine) and one
JSON line last with the final fidelity, seconds, objective and the per-epoch curve. The
reported objective is evaluated in float64 over all rows.

`--eval-weights W.f32 b.f32` instead evaluates given weights (C x D, C; e.g. from
`inficond bench student --save DIR`) with this script's own loss and prints one JSON
line: the check that both sides minimise the same objective.

Usage: student_peer.py X.f32 P.f32 N D C [--lambda 1e-4] [--epochs 100] [--seed 0]
                       [--eval-weights W.f32 b.f32]
"""
import argparse
import json
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("x")
    ap.add_argument("p")
    ap.add_argument("n", type=int)
    ap.add_argument("d", type=int)
    ap.add_argument("c", type=int)
    ap.add_argument("--lambda", dest="lam", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-weights", nargs=2, metavar=("W", "B"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    with open(a.x, "rb") as f:
        X = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(a.n, a.d)
    with open(a.p, "rb") as f:
        P = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(a.n, a.c)
    teacher = P.argmax(1)
    model = torch.nn.Linear(a.d, a.c)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    bce = torch.nn.BCEWithLogitsLoss(reduction="sum")

    def evaluate():
        # the objective in float64: sum over classes of mean BCE + lambda |W|_1
        with torch.no_grad():
            z = model(X)
            fid = (z.argmax(1) == teacher).float().mean().item()
            w64 = model.weight.double()
            z64 = X.double() @ w64.T + model.bias.double()
            obj = (bce(z64, P.double()) / a.n + a.lam * w64.abs().sum()).item()
        return fid, obj

    if a.eval_weights:
        with open(a.eval_weights[0], "rb") as f:
            w = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(a.c, a.d)
        with open(a.eval_weights[1], "rb") as f:
            b = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(a.c)
        with torch.no_grad():
            model.weight.copy_(w)
            model.bias.copy_(b)
        fid, obj = evaluate()
        print(json.dumps({"eval": "peer-loss", "objective": obj, "fidelity": fid,
                          "nonzeros": int((w != 0).sum().item())}))
        return 0

    curve = []
    train_s = 0.0
    train_cpu = 0.0
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        c0 = time.process_time()
        perm = torch.randperm(a.n)
        for s in range(0, a.n, a.batch):
            idx = perm[s:s + a.batch]
            xb, pb = X[idx], P[idx]
            loss = bce(model(xb), pb) / len(idx) + a.lam * model.weight.abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        train_s += time.perf_counter() - t0
        train_cpu += time.process_time() - c0
        fid, obj = evaluate()
        curve.append({"epoch": ep + 1, "seconds": round(train_s, 4), "cpu_seconds": round(train_cpu, 4),
                      "fidelity": fid, "objective": obj})
        print(f"epoch {ep + 1:3d}  {train_s:8.2f} s  fidelity {fid:.4f}  objective {obj:.6f}", flush=True)
    fid, obj = evaluate()
    # first epoch at which the curve reached the final fidelity
    first = next(c for c in curve if c["fidelity"] >= fid)
    nz = int((model.weight.detach().abs() > 0).sum().item())
    print(json.dumps({"peer": "pytorch-adam", "torch": torch.__version__, "epochs": a.epochs,
                      "fidelity": fid, "objective": obj, "seconds": round(train_s, 4),
                      "cpu_seconds": round(train_cpu, 4), "nonzeros": nz,
                      "first_epoch_at_final": first["epoch"], "seconds_to_final": first["seconds"],
                      "cpu_seconds_to_final": first["cpu_seconds"],
                      "curve": curve}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
