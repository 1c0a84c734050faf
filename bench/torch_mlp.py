#!/usr/bin/env python3
"""torch_mlp.py — PyTorch on the CPU as nabla's peer on the workloads of
bench/README.md: the same model, loss, optimizer, batch and synthetic
data, timed the way `nabla bench` times nabla.

Model: per layer torch.nn.Linear followed by torch.nn.Sigmoid (every layer
sigmoid, as bench/README.md says).
Loss:  MSE as Φ = (1/N)·Σ‖F(x)−y‖², summed over outputs and averaged over
       the samples of the batch, computed as
       F.mse_loss(out, y, reduction='sum') / batch
       (PyTorch's default 'mean' would also divide by the output width).
Step:  plain SGD, torch.optim.SGD(lr=0.1) (no momentum, no weight decay).
Data:  inputs uniform in [0, 1), uniform class labels as one-hot targets,
       seeded; mini-batches from a fresh permutation every epoch, gathered
       by index like nabla's; W3 is full-batch gradient descent.

Method: a warm-up, then at least 5 repetitions; a repetition is the
workload's nominal run (W1, W2: one epoch; W3: 200 iterations; W4: 10000
iterations) cut to about --max-rep-seconds when that is shorter, since
only the rate matters. Median, min and max of samples/s and steps/s, for
torch.set_num_threads(1) and (2); the best of the two is the peer figure.

Device: --device cpu (default) or cuda. On cuda, data and model live on
the GPU, TF32 is switched off (float32 GEMMs, as nabla's), each
repetition ends with torch.cuda.synchronize(), and only one "thread
count" is timed (the GPU does the work).

Prints one JSON document on stdout (also written to --json FILE) and a
short table on stderr. Without PyTorch it prints
{"skipped": "skipped: not installed"} and exits 0.

BLAS: PyTorch's Linear runs its GEMMs in the BLAS it was built with
(Debian's python3-torch: the system libblas, i.e. OpenBLAS when that is
installed). bench/README.md's rule therefore applies: unset
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in this command only, e.g.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 torch_mlp.py
The JSON records what this process saw.
"""
import argparse
import json
import os
import statistics
import sys
import time

WORKLOADS = [
    # id, name, N, widths, batch (0 = full), epochs, iterations
    dict(id="W1", name="mnist", n=60000, widths=[784, 512, 512, 10], batch=256, epochs=1, iters=0),
    dict(id="W2", name="wide", n=16384, widths=[1024, 2048, 2048, 2048, 10], batch=512,
         epochs=1, iters=0),
    dict(id="W3", name="fullbatch", n=10000, widths=[64, 256, 10], batch=0, epochs=0, iters=200),
    dict(id="W4", name="tiny", n=4, widths=[2, 8, 1], batch=4, epochs=0, iters=10000),
]
LR = 0.1


def stat(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def make_data(torch, w, n, seed):
    """Inputs uniform [0,1); labels uniform over the output width, one-hot."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, w["widths"][0], generator=g)
    classes = w["widths"][-1]
    labels = torch.randint(0, classes, (n,), generator=g)
    y = torch.nn.functional.one_hot(labels, classes).to(torch.float32)
    return x, y


def make_model(torch, widths):
    layers = []
    for i in range(len(widths) - 1):
        layers += [torch.nn.Linear(widths[i], widths[i + 1]), torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers)


class Trainer:
    """One workload's training loop, resumable step by step so repetitions
    continue the same run (epochs wrap around with a new permutation)."""

    def __init__(self, torch, w, n, seed, device):
        self.torch = torch
        self.device = device
        x, y = make_data(torch, w, n, seed)
        self.x, self.y = x.to(device), y.to(device)
        self.n = n
        self.batch = w["batch"] if 0 < w["batch"] < n else n
        self.full = self.batch == n
        torch.manual_seed(seed)
        self.model = make_model(torch, w["widths"]).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.perm, self.pos = None, n
        self.loss = float("nan")

    def step(self):
        """One SGD update; returns the number of samples it used."""
        F = self.torch.nn.functional
        if self.full:
            xb, yb = self.x, self.y
        else:
            if self.pos >= self.n:
                perm = self.torch.randperm(self.n, generator=self.gen)
                self.perm, self.pos = perm.to(self.device), 0
            idx = self.perm[self.pos:self.pos + self.batch]
            self.pos += self.batch
            xb, yb = self.x[idx], self.y[idx]
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.model(xb), yb, reduction="sum") / xb.shape[0]
        loss.backward()
        self.opt.step()
        self._last = loss
        return xb.shape[0]

    def run(self, steps):
        samples = 0
        t0 = time.perf_counter()
        for _ in range(steps):
            samples += self.step()
        if self.device != "cpu":
            self.torch.cuda.synchronize()  # the queued kernels are part of the time
        dt = time.perf_counter() - t0
        self.loss = float(self._last.detach())
        return dt, samples


def nominal_steps(w, n):
    if w["iters"]:
        return w["iters"]
    b = w["batch"] if 0 < w["batch"] < n else n
    return w["epochs"] * ((n + b - 1) // b)


def measure(torch, w, threads, args):
    n = w["n"] if not args.quick else min(w["n"], 4096 if w["id"] != "W4" else w["n"])
    torch.set_num_threads(threads)
    tr = Trainer(torch, w, n, args.seed, args.device)
    # Warm-up: allocator, first-touch and thread-pool start; also a rate
    # estimate that sets how many steps fit in one repetition.
    warm = 3 if w["id"] != "W4" else 200
    dt, _ = tr.run(warm)
    dt, _ = tr.run(warm)
    per_step = dt / warm
    steps = nominal_steps(w, n)
    cap = max(1, int(args.max_rep_seconds / max(per_step, 1e-9)))
    steps = max(1, min(steps, cap))
    sps, stps = [], []
    for _ in range(args.reps):
        dt, samples = tr.run(steps)
        sps.append(samples / dt)
        stps.append(steps / dt)
    return {
        "workload": w["name"], "id": w["id"],
        "layers": "-".join(str(v) for v in w["widths"]),
        "n": n, "batch": tr.batch, "threads": threads, "device": args.device,
        "steps_per_rep": steps, "nominal_steps": nominal_steps(w, n), "reps": args.reps,
        "samples_per_s": stat(sps), "steps_per_s": stat(stps),
        "gflops_median": flops_per_sample(w["widths"]) * statistics.median(sps) * 1e-9,
        "final_loss": tr.loss,
    }


def flops_per_sample(widths):
    """bench/README.md: forward 2P, weight gradient 2P, input gradient 2(P − P1)."""
    sizes = [widths[i] * widths[i + 1] for i in range(len(widths) - 1)]
    P, P1 = sum(sizes), sizes[0]
    return 2 * P + 2 * P + 2 * (P - P1)


def emit(doc, path):
    """Print the document, and write it to path when one was given."""
    out = json.dumps(doc, indent=1)
    print(out)
    if path:
        with open(path, "w") as f:
            f.write(out + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="all", help="all, or a list like W1,W4 or mnist,tiny")
    ap.add_argument("--threads", default="1,2", help="thread counts to try (default 1,2)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions, at least 5 (default 5)")
    ap.add_argument("--max-rep-seconds", type=float, default=3.0,
                    help="cut a repetition to about this long (default 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run: small N, short repetitions")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="FILE", help="also write the JSON here")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cpu (default) or cuda (float32, TF32 off)")
    args = ap.parse_args()
    if args.reps < 5:
        ap.error("--reps must be at least 5")
    if args.quick:
        args.max_rep_seconds = min(args.max_rep_seconds, 0.3)

    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    try:
        import torch
    except ImportError:
        emit({"peer": "pytorch", "skipped": "skipped: not installed", "env": env}, args.json)
        return 0

    if args.device == "cuda":
        if not torch.cuda.is_available():
            emit({"peer": "pytorch", "skipped": "skipped: no CUDA device", "env": env}, args.json)
            return 0
        # float32 as nabla computes it: no TF32 in matmuls or cuDNN.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    want = args.workloads.split(",") if args.workloads != "all" else None
    chosen = [w for w in WORKLOADS if not want or w["id"] in want or w["name"] in want]
    if not chosen:
        ap.error("no workload matches --workloads %s" % args.workloads)
    threads = [int(t) for t in args.threads.split(",")]
    if args.device == "cuda":
        threads = threads[:1]  # the host thread count does not change GPU work

    results = []
    torch.set_grad_enabled(True)
    for w in chosen:
        for t in threads:
            print("pytorch %s %s, %d thread(s) …" % (w["id"], w["name"], t), file=sys.stderr)
            results.append(measure(torch, w, t, args))
    best = []
    for w in chosen:
        rs = [r for r in results if r["id"] == w["id"]]
        b = max(rs, key=lambda r: r["samples_per_s"]["median"])
        best.append({"workload": b["workload"], "id": b["id"], "threads": b["threads"],
                     "samples_per_s": b["samples_per_s"], "steps_per_s": b["steps_per_s"]})

    blas = "?"
    try:
        cfg = torch.__config__.show()
        blas = "BLAS_INFO=" + cfg.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in cfg else "?"
    except Exception:  # only informative
        pass
    doc = {
        "peer": "pytorch", "device": args.device, "torch": torch.__version__, "blas": blas, "env": env,
        "loss": "F.mse_loss(out, y, reduction='sum') / batch = (1/B)·Σ‖F−y‖²",
        "optimizer": "torch.optim.SGD(lr=%g)" % LR, "quick": args.quick,
        "results": results, "best": best,
    }
    print("| workload | threads | samples/s median (min–max) | steps/s | loss |", file=sys.stderr)
    for r in results:
        s = r["samples_per_s"]
        print("| %s %s | %d | %.4g (%.4g–%.4g) | %.4g | %.4g |" % (
            r["id"], r["workload"], r["threads"], s["median"], s["min"], s["max"],
            r["steps_per_s"]["median"], r["final_loss"]), file=sys.stderr)
    emit(doc, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
