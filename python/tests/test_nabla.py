"""Tests of the nabla Python package against the C library it wraps.

Environment (set by CTest, see run_tests.py): NABLA_LIBRARY, the shared
library; NABLA_CLI, the nabla tool; NABLA_DATA_DIR, the bundled data.
"""
import ctypes
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import nabla

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def digits():
    path = os.path.join(os.environ.get("NABLA_DATA_DIR", "data"), "digits.csv")
    raw = np.loadtxt(path, delimiter=",", dtype=np.float64)
    return raw[:, :-1].astype(np.float32), raw[:, -1].astype(np.int32), path


def xor_net(**fit):
    net = nabla.MLP([2, 4, 1], act=["tanh", "sigmoid"], seed=7, device="cpu")
    opts = dict(batch="full", optim="adam", lr=0.05, max_epochs=5000, target_loss=1e-3)
    opts.update(fit)
    return net, net.fit(XOR_X, XOR_Y, **opts)


def test_xor():
    net, res = xor_net()
    assert res.halt == "target_loss", res.why
    assert res.loss <= 1e-3
    pred = net.predict(XOR_X)
    assert pred.dtype == np.float32 and pred.shape == (4, 1)
    assert ((pred > 0.5) == (XOR_Y > 0.5)).all(), pred
    # One history entry per epoch (report_every 1), the last one the final loss.
    assert len(res.history) == res.epochs + 1 and res.history[-1].loss == res.loss


def test_digits_same_as_cli():
    """The bundled digits at the same seed and settings as `nabla train`: the
    same rows held out, the same initialisation and shuffles, so the same
    final losses to the digits the tool prints (and the pure-C backend gives
    the same bits whatever its thread count)."""
    cli = os.environ.get("NABLA_CLI")
    if not cli:
        pytest.skip("NABLA_CLI is not set (CTest sets it to the nabla tool)")
    X, y, path = digits()
    out = subprocess.run([cli, "train", "--data", path, "--layers", "64,32,10", "--epochs", "3",
                          "--standardize", "--optim", "momentum", "--lr", "0.1", "--seed", "5",
                          "--device", "cpu"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^final: loss (\S+)  val_loss (\S+)  val_acc (\S+)%", out, re.M)
    assert m, out
    net = nabla.MLP([64, 32, 10], seed=5, device="cpu")
    res = net.fit(X, y, val=0.2, seed=5, standardize=True, max_epochs=3, optim="momentum",
                  lr=0.1)
    assert f"{res.loss:.6g}" == m.group(1)
    assert f"{res.val_loss:.6g}" == m.group(2)
    assert f"{100 * res.val_acc:.2f}" == m.group(3)
    assert res.halt == "max_epochs" and res.epochs == 3


def test_checkpoint_read_by_safetensors(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy",
                                            reason="safetensors is not installed")
    from safetensors import safe_open
    X, y, _ = digits()
    net = nabla.MLP([64, 16, 10], act="relu", loss="xent", seed=3, device="cpu")
    ckpt = tmp_path / "run.safetensors"
    res = net.fit(X, y, val=0.2, standardize=True, optim="adam", lr=1e-2, max_epochs=4,
                  save=ckpt, save_every=2)
    assert res.val_acc > 0.8, res  # 4 epochs of Adam on digits: far above chance (0.1)
    theta, at = net.params, 0
    with safe_open(str(ckpt), "numpy") as f:
        keys = set(f.keys())
        for layer, (n_in, n_out) in enumerate([(64, 16), (16, 10)]):
            w = f.get_tensor(f"layers.{layer}.weight")
            b = f.get_tensor(f"layers.{layer}.bias")
            assert w.dtype == np.float32 and w.shape == (n_out, n_in)
            # The model's vector: A_1 row-major, b_1, A_2, b_2.
            assert np.array_equal(w.ravel(), theta[at:at + w.size])
            at += w.size
            assert np.array_equal(b, theta[at:at + b.size])
            at += b.size
    assert at == theta.size and {"layers.0.weight", "layers.1.bias"} <= keys
    # Back into nabla: the checkpoint and a saved model predict what net does.
    model = tmp_path / "model.safetensors"
    net.save(model)
    for path in (ckpt, model):
        back = nabla.load(path, device="cpu")
        assert back.layers == [64, 16, 10] and back.act == ["relu", "softmax"]
        assert back.loss == "xent"
        assert np.array_equal(back.predict(X[:50]), net.predict(X[:50]))
    # Weights written by Python come in through the library's own checks.
    with safe_open(str(model), "numpy") as f:
        plain = {k: f.get_tensor(k) for k in f.keys() if k.startswith("layers.")}
    plain["layers.1.bias"] = plain["layers.1.bias"][:5]  # no longer chains with the weight
    bad = tmp_path / "bad.safetensors"
    safetensors_numpy.save_file(plain, str(bad))
    with pytest.raises(nabla.DataError):
        nabla.load(bad, device="cpu")


def test_bad_input_raises_the_right_exception(tmp_path):
    net = nabla.MLP([2, 3, 1], device="cpu")
    with pytest.raises(nabla.ArgError, match=r"3 columns, the model has 2"):
        net.fit(np.zeros((4, 3), np.float32), np.zeros(4, np.float32))
    with pytest.raises(nabla.ArgError, match="not numeric"):
        net.predict(np.array([["a", "b"]]))
    nan = XOR_X.copy()
    nan[2, 1] = np.nan
    with pytest.raises(nabla.DataError, match=r"nb_dataset_from_arrays: x\[5\] is not finite") as e:
        net.fit(nan, XOR_Y)
    assert e.value.status == "NB_ERR_DATA" and isinstance(e.value, ValueError)
    with pytest.raises(nabla.ArgError) as e:  # the library's own check of the schedule
        net.fit(XOR_X, XOR_Y, lr=-1)
    assert "learning rate" in str(e.value) and e.value.status == "NB_ERR_ARG"
    with pytest.raises(nabla.ArgError, match="unknown"):
        net.fit(XOR_X, XOR_Y, optim="newton")
    with pytest.raises(TypeError, match="max_epoch"):
        net.fit(XOR_X, XOR_Y, max_epoch=3)
    with pytest.raises(nabla.FileError) as e:
        nabla.load(tmp_path / "missing.safetensors", device="cpu")
    assert isinstance(e.value, OSError) and "missing.safetensors" in str(e.value)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(nabla.DataError, match="junk.safetensors"):
        nabla.load(junk, device="cpu")
    with pytest.raises(nabla.ArgError):
        nabla.MLP([2, 1], device="opencl:zero")
    with pytest.raises(nabla.ArgError, match="one activation or 2"):
        nabla.MLP([2, 3, 1], act=["tanh"] * 3)
    # The layer widths the data must have come from the model; labels too.
    with pytest.raises(nabla.ArgError, match="labels 0 to 3"):
        nabla.MLP([2, 3], device="cpu").fit(XOR_X, np.arange(4))


def test_divergence_raises_with_the_result():
    net = nabla.MLP([2, 8, 1], act="identity", seed=1, device="cpu")
    before = None

    def remember(e):
        nonlocal before
        before = net.params if e.epoch == 1 else before

    with pytest.raises((nabla.DivergedError, nabla.NonFiniteError)) as e:
        net.fit(XOR_X * 100, XOR_Y, batch="full", lr=10.0, max_epochs=100, callback=remember)
    assert e.value.result is not None and e.value.result.halt == "diverged"
    assert np.isfinite(net.params).all()  # the last good parameters are back


def test_callback_stops_and_its_exceptions_propagate():
    seen = []
    net, res = xor_net(callback=lambda e: seen.append(e.epoch) or e.epoch >= 10)
    assert res.halt == "callback" and seen[-1] == 10 and res.epochs == 10

    def boom(e):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        xor_net(callback=boom)


def test_fit_iter_yields_epochs_and_stops_when_left():
    net = nabla.MLP([2, 4, 1], act=["tanh", "sigmoid"], seed=7, device="cpu")
    it = net.fit_iter(XOR_X, XOR_Y, batch="full", optim="adam", lr=0.05, max_epochs=50)
    epochs = [e.epoch for e in it]
    assert epochs == list(range(0, 51)) and it.result.halt == "max_epochs"
    it = net.fit_iter(XOR_X, XOR_Y, batch="full", max_epochs=10 ** 7)
    for e in it:
        if e.epoch == 5:
            break
    it.close()
    assert it.result.halt == "callback" and it.result.epochs < 10 ** 7


def test_training_releases_the_gil():
    """While nb_train runs in one thread, Python code runs in another. The
    main thread counts loop turns; the count is read from the training
    callback at epochs 50 and 300, so the window holds only time inside
    nb_train (the callback itself runs 6 times, briefly). Holding the GIL
    there (ctypes.PyDLL instead of CDLL) leaves the counter nearly still."""
    X = np.random.default_rng(0).standard_normal((2000, 32)).astype(np.float32)
    y = np.tanh(X[:, :1])
    net = nabla.MLP([32, 128, 128, 1], act="tanh", device="cpu")
    done = threading.Event()
    count = 0
    marks = {}

    def mark(e):
        if e.epoch in (50, 300):
            marks[e.epoch] = (count, time.monotonic())

    def train():
        try:
            net.fit(X, y, batch="full", max_epochs=300, report_every=50, callback=mark)
        finally:
            done.set()

    # The loop's free-running rate, to judge the window against.
    t0, n = time.monotonic(), 0
    while time.monotonic() - t0 < 0.1:
        n += 1
    rate = n / (time.monotonic() - t0)
    t = threading.Thread(target=train)
    t.start()
    while not done.is_set():
        count += 1
    t.join()
    turns = marks[300][0] - marks[50][0]
    window = marks[300][1] - marks[50][1]
    # 20%: the training's worker threads share the cores with this loop
    # (two of them on a 2-core machine leave it 1/3 to 2/3 of a core);
    # with the GIL held the loop could run only during the brief callbacks,
    # a few per cent of the window at most.
    assert turns > 0.2 * rate * window, (
        f"{turns} loop turns in {window:.2f}s inside nb_train, free rate {rate:.0f}/s: "
        "the GIL was held")


def test_devices():
    devs = nabla.devices()
    assert devs[0].id == "cpu"
    assert sum(d.auto for d in devs) == 1
    for d in devs[1:]:
        assert re.fullmatch(r"opencl:\d+\.\d+", d.id) and d.type in ("GPU", "CPU", "ACCEL",
                                                                        "OTHER")
    net = nabla.MLP([2, 1], device=next(d.id for d in devs if d.auto))
    assert net.device.split(" ")[0] in {d.id for d in devs}


def test_library_found_next_to_the_package(tmp_path):
    """Without NABLA_LIBRARY a libnabla.so beside the package is used."""
    pkg = os.path.dirname(nabla.__file__)
    shutil.copytree(pkg, tmp_path / "nabla", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(nabla.library_path, tmp_path / "nabla" / "libnabla.so")
    env = {k: v for k, v in os.environ.items() if k not in ("NABLA_LIBRARY", "PYTHONPATH")}
    out = subprocess.run([sys.executable, "-c", "import nabla; print(nabla.library_path)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tmp_path / "nabla" / "libnabla.so")
    env["NABLA_LIBRARY"] = str(tmp_path / "nowhere.so")
    out = subprocess.run([sys.executable, "-c", "import nabla"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0 and "NABLA_LIBRARY" in out.stderr and "nowhere.so" in out.stderr


def test_pip_install_offline(tmp_path):
    """`pip install ./python` builds with no package index, isolated or not."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    for extra in ([], ["--no-build-isolation"]):
        target = tmp_path / ("iso" if not extra else "noiso")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                            str(target), *extra, src], env=env, capture_output=True, text=True)
        if r.returncode != 0 and "No module named pip" in r.stderr:
            pytest.skip("pip is not installed for " + sys.executable)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (target / "nabla" / "mlp.py").exists()
        # The package's version is the library's (one version, in CMakeLists.txt).
        assert (target / f"nabla-{nabla.__version__}.dist-info" / "METADATA").exists()
