#!/usr/bin/env python3
"""import_check.py — weights saved by Python's safetensors, used by nabla.

Usage: import_check.py NABLA_BINARY WORK_DIR

safetensors.numpy.save_file writes two weights files: a 5-8-6-3 regression
net (relu, tanh, identity) with input.mean and input.std and no metadata,
and a 4-7-3 classifier (relu, softmax) with metadata of its own. `nabla
import` turns each into a model, and `nabla predict` (and, for the
classifier, `nabla eval --json`) must agree with the forward pass numpy
computes here in float64 from the same float32 weights and inputs.

Without numpy or safetensors it prints "skipped: ..." and exits 77, which
CTest reports as skipped.
"""
import json
import os
import subprocess
import sys

SKIP = 77

# nabla computes in float32 and numpy here in float64, from the same
# float32 weights and inputs: with at most 8-term dot products over 3
# layers of values of order 1, float32 rounding (2^-24 relative per
# operation) stays below 1e-6, so 1e-5 leaves a margin without hiding a
# wrong weight or a transposed matrix (errors of order 0.1 and more).
TOL = 1e-5


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def nabla(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise CheckFailed("nabla %s exited %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


def forward(np, layers, acts, x, mean=None, std=None):
    """float64 forward pass; acts per layer: relu, tanh, identity, softmax."""
    h = x.astype(np.float64)
    if mean is not None:
        h = (h - mean.astype(np.float64)) / std.astype(np.float64)
    for (w, b), act in zip(layers, acts):
        z = h @ w.astype(np.float64).T + b.astype(np.float64)
        if act == "relu":
            h = np.maximum(z, 0.0)
        elif act == "tanh":
            h = np.tanh(z)
        elif act == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            h = e / e.sum(axis=1, keepdims=True)
        else:
            h = z
    return h


def write_csv(path, rows):
    # %.9g writes each float32 exactly, so nabla reads the same inputs.
    with open(path, "w") as f:
        for r in rows:
            f.write(",".join("%.9g" % v for v in r) + "\n")


def read_predictions(np, path, k):
    with open(path) as f:
        head = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    check(head[:k] == ["y%d" % j for j in range(k)], "predict header %r" % head)
    return head, np.array([[float(v) for v in r[:k]] for r in rows]), [r[k:] for r in rows]


def close(np, got, want, what):
    err = np.abs(got - want) - (TOL + TOL * np.abs(want))
    i = np.unravel_index(np.argmax(err), err.shape)
    check(err[i] <= 0, "%s: worst %r: nabla %.9g, numpy %.9g (tolerance %g)"
          % (what, i, got[i], want[i], TOL))


def regression(np, save_file, binary, work):
    rng = np.random.default_rng(20240611)
    widths = [5, 8, 6, 3]
    layers = [(rng.standard_normal((o, i)).astype(np.float32) * np.float32(0.6),
               rng.standard_normal(o).astype(np.float32) * np.float32(0.2))
              for i, o in zip(widths, widths[1:])]
    mean = rng.standard_normal(5).astype(np.float32)
    std = (rng.random(5) + 0.5).astype(np.float32)
    tensors = {"input.mean": mean, "input.std": std}
    for l, (w, b) in enumerate(layers):
        tensors["layers.%d.weight" % l] = w
        tensors["layers.%d.bias" % l] = b
    weights = os.path.join(work, "reg.safetensors")
    save_file(tensors, weights)  # no metadata: no __metadata__ in the file
    model = os.path.join(work, "reg-model.safetensors")
    out = nabla(binary, "import", weights, "--act", "relu,tanh,identity", "--out", model)
    check(out == "imported 5-8-6-3 relu,tanh,identity/mse from %s: %d parameters and input "
          "standardisation; wrote %s\n" % (weights, sum(w.size + b.size for w, b in layers), model),
          "import printed %r" % out)

    x = (rng.standard_normal((40, 5)) * 2.0).astype(np.float32)
    data, preds = os.path.join(work, "reg-x.csv"), os.path.join(work, "reg-pred.csv")
    write_csv(data, x)
    nabla(binary, "predict", "--model", model, "--data", data, "--out", preds, "--regression")
    _, got, _ = read_predictions(np, preds, 3)
    close(np, got, forward(np, layers, ["relu", "tanh", "identity"], x, mean, std),
          "regression outputs")


def classifier(np, save_file, binary, work):
    rng = np.random.default_rng(7)
    widths = [4, 7, 3]
    layers = [(rng.standard_normal((o, i)).astype(np.float32),
               rng.standard_normal(o).astype(np.float32) * np.float32(0.3))
              for i, o in zip(widths, widths[1:])]
    tensors = {}
    for l, (w, b) in enumerate(layers):
        tensors["layers.%d.weight" % l] = w
        tensors["layers.%d.bias" % l] = b
    weights = os.path.join(work, "cls.safetensors")
    save_file(tensors, weights, metadata={"format": "np", "note": "trained elsewhere"})
    model = os.path.join(work, "cls-model.safetensors")
    out = nabla(binary, "import", weights, "--act", "relu", "--loss", "xent", "--out", model)
    check(out.startswith("imported 4-7-3 relu,softmax/xent from "), "import printed %r" % out)

    x = rng.standard_normal((30, 4)).astype(np.float32)
    want = forward(np, layers, ["relu", "softmax"], x)
    data, preds = os.path.join(work, "cls-x.csv"), os.path.join(work, "cls-pred.csv")
    write_csv(data, x)
    nabla(binary, "predict", "--model", model, "--data", data, "--out", preds)
    head, got, rest = read_predictions(np, preds, 3)
    check(head == ["y0", "y1", "y2", "label"], "predict header %r" % head)
    close(np, got, want, "class probabilities")
    labels = [int(r[0]) for r in rest]
    check(labels == list(np.argmax(want, axis=1)), "labels %r" % labels)

    # eval on the same rows with labels: accuracy and cross-entropy.
    y = (np.argmax(want, axis=1) + np.arange(30)) % 3  # some right, some wrong
    data = os.path.join(work, "cls-xy.csv")
    write_csv(data, [list(r) + [int(c)] for r, c in zip(x, y)])
    got = json.loads(nabla(binary, "eval", "--model", model, "--data", data, "--json"))
    acc = float(np.mean(np.argmax(want, axis=1) == y))
    loss = float(np.mean(-np.log(want[np.arange(30), y])))
    # The accuracy is a count over 30, exact but for eval's 9 printed digits.
    check(got["rows"] == 30 and abs(got["accuracy"] - acc) < 1e-8, "eval accuracy %r vs %r"
          % (got["accuracy"], acc))
    check(abs(got["loss"] - loss) <= TOL + TOL * abs(loss), "eval loss %r vs numpy %r"
          % (got["loss"], loss))


def main():
    if len(sys.argv) != 3:
        print("usage: import_check.py NABLA_BINARY WORK_DIR", file=sys.stderr)
        return 2
    binary, work = sys.argv[1], sys.argv[2]
    try:
        import numpy as np
        from safetensors.numpy import save_file
    except ImportError as e:
        print("skipped: safetensors/numpy not installed (%s)" % e)
        return SKIP
    os.makedirs(work, exist_ok=True)
    try:
        regression(np, save_file, binary, work)
        print("ok: a 5-8-6-3 regression net with standardisation, as numpy computes it")
        classifier(np, save_file, binary, work)
        print("ok: a 4-7-3 classifier: probabilities, labels, eval's accuracy and loss")
    except CheckFailed as e:
        print("FAIL: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
