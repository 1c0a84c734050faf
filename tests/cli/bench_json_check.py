#!/usr/bin/env python3
"""bench_json_check.py — run `nabla bench` on tiny workloads and validate its
--json output with the standard library alone.

Checks that the document parses with json.load (NaN and Infinity refused,
since other JSON readers refuse them), that every documented field is
present with the right type, and that the numbers agree with each other:
medians lie within [min, max], samples/s = steps/s x batch, GFLOP/s =
samples/s x FLOPs per sample / 1e9, the FLOP count matches 2P + 2P + 2(P - P1)
from the layers, and every correctness check passed; the cpu's results
carry its thread count. A --contention run has its results in pairs per
workload (the cpu at its default threads, then at one) and a "contention"
object whose ratios are the pairs' samples/s medians divided; other runs
have "contention": null. launches_per_step is null exactly for the cpu
and >= 1 on OpenCL (whole in full batch). No speed is asserted.

usage: bench_json_check.py NABLA_BINARY WORK_DIR
"""
import json
import math
import os
import re
import subprocess
import sys

REL = 1e-6  # the JSON prints 9 significant digits
errors = []


def fail(where, msg):
    errors.append(f"{where}: {msg}")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def close(a, b, rel=REL):
    return abs(a - b) <= rel * max(abs(a), abs(b))


def refuse_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def flops_per_sample(layers):
    p = sum(a * b for a, b in zip(layers, layers[1:]))
    p1 = layers[0] * layers[1]
    return 2 * p + 2 * p + 2 * (p - p1)


def check_stat(where, r, key):
    s = r.get(key)
    if not isinstance(s, dict):
        return fail(where, f"{key} is not an object: {s!r}")
    for k in ("median", "min", "max"):
        if not is_num(s.get(k)):
            return fail(where, f"{key}.{k} is not a finite number: {s.get(k)!r}")
    if not (s["min"] <= s["median"] <= s["max"]):
        fail(where, f"{key}: median {s['median']} outside [{s['min']}, {s['max']}]")
    if s["min"] <= 0:
        fail(where, f"{key}.min {s['min']} <= 0")


def check_result(i, r):
    where = f"results[{i}] ({r.get('workload')} on {r.get('device')})"
    types = {
        "workload": str, "device": str, "device_name": str, "layers": list, "batch": int,
        "n": int, "steps_per_rep": int, "reps": int, "check": dict, "flops_per_sample": (int, float),
        "time_split_per_step": dict, "bytes_per_step": (int, float), "peak_rss_mib": (int, float),
        "rep_seconds": list, "samples_per_rep": (int, float), "full_batch": bool,
    }
    for k, t in types.items():
        if not isinstance(r.get(k), t) or isinstance(r.get(k), bool) and t is not bool:
            return fail(where, f"{k} is missing or not {t}: {r.get(k)!r}")
    if r.get("error") is not None:
        return fail(where, f"error: {r['error']}")
    cpu = r["device"] == "cpu"
    t = r.get("threads")
    if cpu != (isinstance(t, int) and not isinstance(t, bool) and t >= 1) or not (cpu or t is None):
        fail(where, f"threads should be a count >= 1 exactly for the cpu: {t!r}")
    if cpu != (r.get("driver") is None) or not (cpu or isinstance(r.get("driver"), str)):
        fail(where, f"driver should be null exactly for the cpu: {r.get('driver')!r}")
    if cpu != (r.get("build_ms") is None):
        fail(where, f"build_ms should be null exactly for the cpu: {r.get('build_ms')!r}")
    if not cpu:
        b = r.get("build_ms")
        if not isinstance(b, dict) or not all(is_num(b.get(k)) and b[k] >= 0 for k in ("cold", "cached")):
            fail(where, f"build_ms must have numbers cold and cached: {b!r}")
    if not all(isinstance(w, int) and w > 0 for w in r["layers"]) or len(r["layers"]) < 2:
        fail(where, f"layers: {r['layers']!r}")
    c = r["check"]
    if c.get("ok") is not True:
        fail(where, f"check.ok is not true: {c!r}")
    for k in ("worst_abs", "worst_rel"):
        if not is_num(c.get(k)) or c[k] < 0:
            fail(where, f"check.{k}: {c.get(k)!r}")
    for k in ("samples_per_s", "steps_per_s", "gflops"):
        check_stat(where, r, k)
    ts = r["time_split_per_step"]
    for k in ("kernels", "transfers", "host"):
        if not is_num(ts.get(k)):
            fail(where, f"time_split_per_step.{k}: {ts.get(k)!r}")
    if r["reps"] < 5 or len(r["rep_seconds"]) != r["reps"]:
        fail(where, f"reps {r['reps']} with {len(r['rep_seconds'])} rep_seconds (at least 5)")
    if not (r["peak_rss_mib"] > 0 and r["bytes_per_step"] >= 0):
        fail(where, "peak_rss_mib must be > 0 and bytes_per_step >= 0")
    # Kernel launches per update: null exactly for the cpu, which launches
    # none; on OpenCL at least one (the update itself), and a whole count in
    # full batch, where every update runs the same kernels (mini-batch adds
    # an epoch's own launches, spread over its updates).
    lps = r.get("launches_per_step", "missing")
    if cpu and lps is not None:
        fail(where, f"launches_per_step should be null for the cpu: {lps!r}")
    if not cpu and not (is_num(lps) and lps >= 1):
        fail(where, f"launches_per_step should be a number >= 1: {lps!r}")
    elif not cpu and r["full_batch"] and lps != int(lps):
        fail(where, f"launches_per_step should be whole in full batch: {lps!r}")
    if errors:
        return
    # The arithmetic between the fields.
    if r["flops_per_sample"] != flops_per_sample(r["layers"]):
        fail(where, f"flops_per_sample {r['flops_per_sample']} != {flops_per_sample(r['layers'])}")
    if r["samples_per_rep"] != r["steps_per_rep"] * r["batch"]:
        fail(where, f"samples_per_rep {r['samples_per_rep']} != steps {r['steps_per_rep']} x batch "
                    f"{r['batch']} (these workloads have no short batch)")
    sps, stps, gf = r["samples_per_s"], r["steps_per_s"], r["gflops"]
    for k in ("median", "min", "max"):
        if not close(sps[k], stps[k] * r["batch"]):
            fail(where, f"samples_per_s.{k} {sps[k]} != steps_per_s x batch {stps[k] * r['batch']}")
        if not close(gf[k], sps[k] * r["flops_per_sample"] / 1e9):
            fail(where, f"gflops.{k} {gf[k]} != samples/s x flops / 1e9")
    secs = sorted(r["rep_seconds"])
    mid = len(secs) // 2
    if len(secs) % 2 and not close(sps["median"], r["samples_per_rep"] / secs[mid], 1e-5):
        fail(where, "samples_per_s.median is not samples_per_rep / the median rep_seconds")
    if not close(sps["min"], r["samples_per_rep"] / secs[-1], 1e-5):
        fail(where, "samples_per_s.min is not samples_per_rep / the slowest repetition")


def check_document(path):
    with open(path) as f:
        doc = json.load(f, parse_constant=refuse_constant)
    for k in ("tool", "nabla_version", "commit", "date"):
        if not isinstance(doc.get(k), str) or not doc[k]:
            fail(path, f"{k} is missing or not a string")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc.get("date", "")):
        fail(path, f"date is not UTC ISO 8601: {doc.get('date')!r}")
    m = doc.get("machine")
    if not isinstance(m, dict) or not isinstance(m.get("cores"), int) or m["cores"] < 1:
        fail(path, f"machine.cores: {m!r}")
    elif not (m.get("cpu_model") is None or isinstance(m["cpu_model"], str)) or not is_num(m.get("memory_gib")):
        fail(path, f"machine.cpu_model / memory_gib: {m!r}")
    res = doc.get("results")
    if not isinstance(res, list) or not res:
        return fail(path, "results is missing or empty")
    for i, r in enumerate(res):
        check_result(i, r)
    return doc


def check_contention(path, doc, processes):
    c = doc.get("contention")
    if processes == 0:
        if c is not None:
            fail(path, f"contention should be null without --contention: {c!r}")
        return
    res = doc["results"]
    if not isinstance(c, dict) or c.get("processes") != processes:
        return fail(path, f"contention.processes should be {processes}: {c!r}")
    comps = c.get("comparisons")
    if not isinstance(comps, list) or len(res) != 2 * len(comps) or not comps:
        return fail(path, f"{len(res)} results for {comps!r}: want two per comparison")
    for i, k in enumerate(comps):
        where = f"{path}: contention.comparisons[{i}]"
        dflt, one = res[2 * i], res[2 * i + 1]
        if not (dflt["workload"] == one["workload"] == k.get("workload")):
            fail(where, f"workloads {dflt['workload']}, {one['workload']}, {k.get('workload')!r}")
        if dflt["device"] != "cpu" or one["device"] != "cpu":
            fail(where, "contention runs are on the cpu")
        if k.get("default_threads") != dflt.get("threads") or one.get("threads") != 1:
            fail(where, f"threads {k.get('default_threads')!r} / {dflt.get('threads')!r}, "
                        f"then {one.get('threads')!r} (want 1)")
        want = {"default_samples_per_s": dflt["samples_per_s"]["median"],
                "one_thread_samples_per_s": one["samples_per_s"]["median"]}
        for key, v in want.items():
            if not is_num(k.get(key)) or not close(k[key], v):
                fail(where, f"{key} {k.get(key)!r} is not the result's median {v}")
        ratio = want["default_samples_per_s"] / want["one_thread_samples_per_s"]
        if not is_num(k.get("ratio")) or not close(k["ratio"], ratio, 1e-5):
            fail(where, f"ratio {k.get('ratio')!r} != {ratio}")


def run(nabla, args, out):
    cmd = [nabla, "bench", *args, "--json", out]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        sys.exit(1)
    return p.stdout


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    nabla, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    runs = [
        (["--workload", "tiny", "--device", "cpu", "--reps", "5"], "tiny.json"),
        # all: the cpu and every OpenCL device this machine has
        (["--layers", "3,5,2", "--batch", "4", "--n", "16", "--iters", "20", "--device", "all"],
         "custom.json"),
        # one busy process beside the cpu at its default threads, then at one
        (["--workload", "tiny", "--device", "cpu", "--reps", "5", "--contention", "1"],
         "contention.json"),
    ]
    for args, name in runs:
        path = os.path.join(work, name)
        run(nabla, args, path)
        doc = check_document(path)
        res = doc.get("results") if isinstance(doc, dict) else None
        if isinstance(res, list):
            busy = int(args[args.index("--contention") + 1]) if "--contention" in args else 0
            check_contention(path, doc, busy)
        devices = [r.get("device") for r in res or []]
        print(f"{name}: {len(devices)} result(s) on {', '.join(map(str, devices))}")
    if errors:
        print("FAIL\n" + "\n".join(errors))
        return 1
    print("ok: every field present and typed; the numbers agree with each other")
    return 0


if __name__ == "__main__":
    sys.exit(main())
