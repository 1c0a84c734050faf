"""plot_check.py — `nabla train --plot` writes an SVG that parses as XML and
whose curves are the run's numbers.

Usage: plot_check.py NABLA_BINARY TMPDIR. Runs a short training with --log
and --plot, parses the SVG with xml.etree, and checks that the training-loss
polyline's data-value list equals the logged losses (the SVG prints %.9g and
the log %.9g of the same doubles, so they must match as text-parsed floats
exactly), the validation and accuracy curves likewise, and that no NaN or
Inf appears anywhere in the file.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def main():
    nabla, tmp = sys.argv[1], sys.argv[2]
    os.makedirs(tmp, exist_ok=True)
    svg, log = os.path.join(tmp, "loss.svg"), os.path.join(tmp, "run.jsonl")
    failed = passed = 0
    for log_scale in (False, True):
        args = [nabla, "train", "--device", "cpu", "--epochs", "7", "--log", log, "--plot", svg]
        if log_scale:
            args.append("--plot-log")
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        text = open(svg, encoding="utf-8").read()
        root = ET.fromstring(text)  # raises if not well-formed XML
        rows = [json.loads(line) for line in open(log, encoding="utf-8")]
        checks = {
            "root is svg with a viewBox": root.tag == NS + "svg" and "viewBox" in root.attrib,
            "no nan or inf": "nan" not in text.lower() and "inf" not in text.lower(),
        }
        for cls, key in (("train", "loss"), ("val", "val_loss"), ("acc", "val_acc")):
            lines = [e for e in root.iter(NS + "polyline") if e.get("class") == cls]
            ok = len(lines) == 1
            if ok:
                epochs = [int(v) for v in lines[0].get("data-epoch").split()]
                values = [float(v) for v in lines[0].get("data-value").split()]
                ok = epochs == [r["epoch"] for r in rows] and values == [r[key] for r in rows]
                ok = ok and len(lines[0].get("points").split()) == len(rows)
            checks["%s curve equals the log (%s)" % (cls, "log" if log_scale else "linear")] = ok
        for name, ok in checks.items():
            print(("ok   " if ok else "FAIL ") + name)
            passed, failed = passed + ok, failed + (not ok)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
