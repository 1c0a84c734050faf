#!/usr/bin/env python3
"""svg_check.py — read back the pictures of `nabla descend --plot` and of
`nabla train --plot`.

usage: svg_check.py NABLA_BINARY TMPDIR

Runs `nabla descend` on Φ = 9·x1² + x2² from (1, 2) with --plot and checks
the SVG against the iterates the same run printed on stdout:

  * it parses as XML (xml.etree.ElementTree), the root is <svg> in the SVG
    namespace with width, height and a four-number viewBox;
  * there are level-set polylines (<g class="contour">);
  * <polyline id="path">: its data-x1/data-x2 equal the printed iterates
    exactly (both are %.17g of the same double, which round-trips), and its
    points equal the iterates mapped through data-affine "s ox oy"
    (X = ox + s·x1, Y = oy − s·x2) within 1e-3 units: points are written
    with 3 decimals (rounding ≤ 5e-4) and the map adds ~1e-13;
  * <line class="grad"> arrows exist, start at their iterate (1e-3, as
    above), are 36 units long (±1e-2) and point along −∇Φ at that iterate
    within 1e-3 rad: rounding both ends by ≤ 5e-4 on a 36-unit arrow turns
    it by < 3e-5 rad, while a sign or axis slip is off by > 0.1 rad;
  * #start and #end sit on the first and last drawn iterate;
  * no "nan" or "inf" in any attribute or text, except in the headings when
    they quote a stopping reason that says so ("the loss became inf"; then
    the rest of the file is checked element by element), and the file is
    under 2 MB.

Runs: α = 0.1 (zig-zag), --line-search from α = 1, α = 0.12 (diverges,
exit 1: the picture is still written, titled with the divergence), and
α = 0.12 without a divergence factor (the path runs to overflow; it must
be cut at the window with a class="escape" line and still be finite).

The training plot (`nabla train --plot`, 4 and 37 epochs of the bundled
digits): it parses as XML; the epoch-axis labels (<text class="etick">) are
whole numbers, strictly increasing, inside the run's epochs, one round step
(1, 2 or 5 × 10^k) apart, at most 8 of them, each over its epoch's point of
the training curve (x within 0.06: labels are written with 1 decimal, points
with 2); the 4-epoch run
labels every epoch, 1 2 3 4; the title is the document's <title> and the
heading, and names the data.

Prints one line per check and "N passed, M failed" last; exits 1 on any
failure.
"""
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
POINT_TOL = 1e-3   # SVG units; see the docstring
ANGLE_TOL = 1e-3   # radians
ARROW_LEN = 36.0

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {what}")
    else:
        failed += 1
        print(f"FAIL  {what}")
    return ok


def grad_quad(x1, x2):
    return 18.0 * x1, 2.0 * x2


def printed_iterates(stdout):
    """k -> (x1, x2) from the iterate lines: 'k x1 x2 Φ ‖∇Φ‖ α [trials]'."""
    its = {}
    for line in stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and re.fullmatch(r"\d+", f[0]):
            its[int(f[0])] = (float(f[1]), float(f[2]))
    return its


def numbers(s):
    return [float(v) for v in s.split()]


def check_run(nabla, tmpdir, name, args, want_exit, escape=False):
    svg = os.path.join(tmpdir, name + ".svg")
    if os.path.exists(svg):
        os.remove(svg)
    cmd = [nabla, "descend", "--fn", "quad", *args, "--plot", svg]
    p = subprocess.run(cmd, capture_output=True, text=True)
    label = name + ":"
    if not check(p.returncode == want_exit,
                 f"{label} `{' '.join(cmd[1:])}` exits {want_exit} (got {p.returncode}; "
                 f"stderr {p.stderr.strip()!r})"):
        return
    if not check(os.path.exists(svg), f"{label} the SVG is written"):
        return
    its = printed_iterates(p.stdout)
    check(len(its) >= 2, f"{label} stdout has iterates ({len(its)})")
    if want_exit == 1:
        check("stopped: diverged: " in p.stdout, f"{label} stdout reports the divergence")

    raw = open(svg, "rb").read()
    text = raw.decode("utf-8")
    check(len(raw) < 2 * 1024 * 1024, f"{label} size {len(raw)} bytes < 2 MB")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as e:
        check(False, f"{label} parses as XML ({e})")
        return
    check(True, f"{label} parses as XML")
    # Every attribute and every text but the headings (which quote the
    # library's stopping reason, e.g. "the loss became inf") and <title>.
    nonfinite = re.compile(r"(?i)\b(nan|inf|infinity)\b")
    bad = []
    for e in root.iter():
        bad += [f"{e.tag}@{k}" for k, v in e.attrib.items() if nonfinite.search(v)]
        if e.get("class") != "heading" and e.tag != NS + "title" and nonfinite.search(e.text or ""):
            bad.append(f"{e.tag} text")
    check(not bad, f"{label} no nan/inf in attributes or (non-heading) text {bad[:3]}")
    if "inf" not in p.stdout and "nan" not in p.stdout:
        words = nonfinite.findall(text)
        check(not words, f"{label} no nan/inf anywhere in the file {words[:3]}")
    check(root.tag == NS + "svg", f"{label} root is <svg> in the SVG namespace ({root.tag})")
    vb = root.get("viewBox", "").split()
    check(len(vb) == 4 and all(math.isfinite(float(v)) for v in vb) and float(vb[2]) > 0
          and float(vb[3]) > 0, f"{label} viewBox {vb}")
    check(root.get("width") is not None and root.get("height") is not None,
          f"{label} width and height")
    if want_exit == 1:
        title = root.find(NS + "title")
        heads = " ".join(t.text or "" for t in root.iter(NS + "text"))
        check(title is not None and "diverged" in heads, f"{label} the heading says diverged")

    contours = [g for g in root.iter(NS + "g") if g.get("class") == "contour"]
    lines = sum(len(g.findall(NS + "polyline")) for g in contours)
    check(len(contours) >= 5 and lines >= 5,
          f"{label} level sets: {len(contours)} levels, {lines} polylines")

    path = [e for e in root.iter(NS + "polyline") if e.get("id") == "path"]
    if not check(len(path) == 1, f"{label} one polyline id=path"):
        return
    path = path[0]
    ks = [int(v) for v in path.get("data-k", "").split()]
    x1 = numbers(path.get("data-x1", ""))
    x2 = numbers(path.get("data-x2", ""))
    s, ox, oy = numbers(path.get("data-affine", ""))
    pts = [tuple(float(c) for c in pt.split(",")) for pt in path.get("points", "").split()]
    total = int(path.get("data-total", "-1"))
    check(len(ks) == len(x1) == len(x2) == len(pts) >= 2,
          f"{label} path has {len(pts)} points, k, x1, x2 alike")
    check(ks == list(range(len(ks))), f"{label} path holds iterates 0..{len(ks) - 1} in order")
    same = all(k in its and its[k] == (a, b) for k, a, b in zip(ks, x1, x2))
    check(same, f"{label} data-x1/x2 equal the printed iterates exactly")
    if escape:
        check(total > len(ks), f"{label} path cut at the window: {len(ks)} of {total} drawn")
        esc = [e for e in root.iter(NS + "line") if e.get("class") == "escape"]
        check(len(esc) == 1, f"{label} one escape line")
    else:
        check(total == len(ks) and sorted(its) == ks,
              f"{label} every printed iterate is drawn ({len(its)} printed, {total} stored)")
    worst = 0.0
    for k, (X, Y) in zip(ks, pts):
        a, b = its.get(k, (math.nan, math.nan))
        worst = max(worst, abs(X - (ox + s * a)), abs(Y - (oy - s * b)))
    check(worst <= POINT_TOL,
          f"{label} points = affine map of the printed iterates (worst {worst:.2e} <= {POINT_TOL})")
    # the same, read the other way: the points mapped back to the plane
    back = max(max(abs((X - ox) / s - its[k][0]), abs((oy - Y) / s - its[k][1])) * s
               for k, (X, Y) in zip(ks, pts) if k in its)
    check(back <= POINT_TOL, f"{label} points mapped back = iterates ({back:.2e} units)")

    arrows = [e for e in root.iter(NS + "line") if e.get("class") == "grad"]
    check(len(arrows) >= 3, f"{label} {len(arrows)} gradient arrows")
    worst_angle, worst_len, worst_at = 0.0, 0.0, 0.0
    for e in arrows:
        k = int(e.get("data-k"))
        a, b = its[k]
        X1, Y1, X2, Y2 = (float(e.get(n)) for n in ("x1", "y1", "x2", "y2"))
        worst_at = max(worst_at, abs(X1 - (ox + s * a)), abs(Y1 - (oy - s * b)))
        dx, dy = X2 - X1, -(Y2 - Y1)  # back to the plane's orientation
        g1, g2 = grad_quad(a, b)
        ang = math.atan2(dx * -g2 - dy * -g1, dx * -g1 + dy * -g2)  # angle from −∇Φ
        worst_angle = max(worst_angle, abs(ang))
        worst_len = max(worst_len, abs(math.hypot(dx, dy) - ARROW_LEN))
    check(worst_angle <= ANGLE_TOL,
          f"{label} arrows point along −∇Φ (worst {worst_angle:.2e} rad <= {ANGLE_TOL})")
    check(worst_len <= 1e-2, f"{label} arrows are {ARROW_LEN} long (worst off {worst_len:.2e})")
    check(worst_at <= POINT_TOL, f"{label} arrows start at their iterate ({worst_at:.2e})")

    circles = {c.get("id"): c for c in root.iter(NS + "circle") if c.get("id")}
    ok = "start" in circles and "end" in circles
    if ok:
        for cid, k in (("start", ks[0]), ("end", ks[-1])):
            c = circles[cid]
            a, b = its[k]
            ok &= abs(float(c.get("cx")) - (ox + s * a)) <= POINT_TOL
            ok &= abs(float(c.get("cy")) - (oy - s * b)) <= POINT_TOL
    check(ok, f"{label} start and end markers on the first and last drawn iterate")


def round_step(step):
    """Is step 1, 2 or 5 times a power of ten?"""
    while step >= 10 and step % 10 == 0:
        step //= 10
    return step in (1, 2, 5)


def check_train_plot(nabla, tmpdir, epochs):
    svg = os.path.join(tmpdir, f"train-{epochs}.svg")
    label = f"train --epochs {epochs}:"
    cmd = [nabla, "train", "--device", "cpu", "--epochs", str(epochs), "--plot", svg]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if not check(p.returncode == 0 and os.path.exists(svg),
                 f"{label} exits 0 and writes the plot (stderr {p.stderr.strip()!r})"):
        return
    try:
        root = ET.parse(svg).getroot()
    except ET.ParseError as e:
        check(False, f"{label} parses as XML ({e})")
        return
    train = [e for e in root.iter(NS + "polyline") if e.get("class") == "train"]
    if not check(len(train) == 1, f"{label} one training-loss curve"):
        return
    run_epochs = [int(v) for v in train[0].get("data-epoch").split()]
    check(run_epochs == list(range(1, epochs + 1)), f"{label} the curve has epochs 1..{epochs}")
    ticks = [e for e in root.iter(NS + "text") if e.get("class") == "etick"]
    texts = [(e.text or "").strip() for e in ticks]
    if not check(len(ticks) >= 2 and all(re.fullmatch(r"\d+", t) for t in texts),
                 f"{label} epoch labels are whole numbers {texts}"):
        return
    vals = [int(t) for t in texts]
    xs = [float(e.get("x")) for e in ticks]
    check(all(a < b for a, b in zip(vals, vals[1:])), f"{label} strictly increasing {vals}")
    check(run_epochs[0] <= vals[0] and vals[-1] <= run_epochs[-1],
          f"{label} inside the run's epochs {run_epochs[0]}..{run_epochs[-1]}")
    steps = {b - a for a, b in zip(vals, vals[1:])}
    check(len(steps) == 1 and round_step(steps.pop()) and len(vals) <= 8,
          f"{label} one round step, at most 8 labels")
    # Each label sits over its epoch's point of the curve: ticks are written
    # with 1 decimal and points with 2, so they agree to 0.05 + 0.005.
    point_x = {e: float(pt.split(",")[0])
               for e, pt in zip(run_epochs, train[0].get("points").split())}
    off = max(abs(x - point_x.get(v, math.inf)) for v, x in zip(vals, xs))
    check(off <= 0.06, f"{label} each label over its epoch on the curve (off by {off:.3f})")
    if epochs == 4:
        check(vals == [1, 2, 3, 4], f"{label} every epoch labelled once: {vals}")
    title = root.find(NS + "title")
    heads = [e.text for e in root.iter(NS + "text") if e.get("class") == "title"]
    check(title is not None and title.text and heads == [title.text] and
          title.text == "64-32-10 sigmoid/mse on digits", f"{label} titled {heads}")


def main():
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    nabla, tmpdir = sys.argv[1], sys.argv[2]
    os.makedirs(tmpdir, exist_ok=True)
    check_run(nabla, tmpdir, "quad-0.1", ["--lr", "0.1"], 0)
    check_run(nabla, tmpdir, "quad-ls", ["--line-search", "--lr", "1"], 0)
    check_run(nabla, tmpdir, "quad-0.12", ["--lr", "0.12"], 1)
    check_run(nabla, tmpdir, "quad-0.12-overflow",
              ["--lr", "0.12", "--diverge-factor", "0", "--iters", "100000"], 1, escape=True)
    check_train_plot(nabla, tmpdir, 4)
    check_train_plot(nabla, tmpdir, 37)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
