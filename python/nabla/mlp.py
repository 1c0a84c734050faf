"""nabla.mlp: the MLP class, training from numpy, and loading saved models.

An MLP owns its backend (the device it runs on) and its nb_model; both are
freed by close() or when the object goes away, the model first, as the
library requires.
"""
import ctypes
import math
import queue
import threading
from dataclasses import dataclass, field

import numpy as np

from . import _lib
from ._data import Dataset, fptr, matrix
from .errors import ArgError, DivergedError, NonFiniteError, check, error_for

lib = _lib.lib

# nb_halt, in include/nabla.h's order.
HALTS = ["none", "max_iters", "max_epochs", "target_loss", "tol_grad", "callback", "time",
         "plateau", "early_stop", "diverged", "line_search", "interrupted"]

# fit() options that set nb_train_options fields other than the schedule.
_TRAIN_FIELDS = {"batch", "seed", "report_every", "measure_grad", "save", "save_every",
                 "resume", "record"}
_SCHEDULE_FIELDS = {name for name, _ in _lib.Schedule._fields_}
_ENUM_FIELDS = {"lr_kind": lib.nb_lr_kind_parse, "optim": lib.nb_optim_parse}


@dataclass
class Epoch:
    """One reported epoch (nb_epoch_stats). NaN where nothing was measured."""
    epoch: int
    iters: int
    loss: float
    grad_norm: float
    val_loss: float
    val_acc: float
    lr: float
    trials: int
    seconds: float


@dataclass
class Result:
    """What a fit did (nb_result), and the epochs it reported."""
    halt: str
    why: str
    iters: int
    epochs: int
    loss: float
    grad_norm: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    updates: int
    fallback: str
    history: list = field(default_factory=list)


def _parse_enum(parse, name, value):
    out = ctypes.c_int()
    check(parse(str(value).encode(), ctypes.byref(out)))
    return out.value


def _options(opts):
    """nb_train_options from fit()'s keyword options, over the library's defaults."""
    o = _lib.TrainOptions()
    lib.nb_train_options_default(ctypes.byref(o))
    keep = []  # encoded strings the struct points to, alive for the call
    for key, value in opts.items():
        if key in _ENUM_FIELDS:
            setattr(o.schedule, key, _parse_enum(_ENUM_FIELDS[key], key, value))
        elif key == "target_loss":
            o.schedule.target_loss = math.nan if value is None else float(value)
        elif key in _SCHEDULE_FIELDS:
            kind = dict(_lib.Schedule._fields_)[key]
            setattr(o.schedule, key, float(value) if kind is _lib.c_double else int(value))
        elif key == "batch":
            o.batch = 0 if value in (None, "full") else int(value)
        elif key in ("save", "resume", "record"):
            b = None if value is None else str(value).encode()
            keep.append(b)
            setattr(o, key, b)
        elif key in _TRAIN_FIELDS:
            setattr(o, key, int(value))
        else:
            raise TypeError(f"fit() got an unknown option {key!r}")
    return o, keep


def _epoch(s):
    return Epoch(s.epoch, s.iters, s.loss, s.grad_norm, s.val_loss, s.val_acc, s.lr, s.trials,
                 s.seconds)


def _result(r, history):
    return Result(HALTS[r.halt] if 0 <= r.halt < len(HALTS) else str(r.halt),
                  _lib.text(r.why), r.iters, r.epochs, r.loss, r.grad_norm, r.val_loss,
                  r.val_acc, r.lr, r.seconds, r.updates, _lib.text(r.fallback), history)


def _names(act, n_layers, loss):
    """One activation per layer, as the nabla tool's --act/--loss give them:
    one name for every layer or one per layer; with xent the last is softmax."""
    acts = [act] if isinstance(act, str) else list(act)
    if len(acts) not in (1, n_layers):
        raise ArgError(f"act: give one activation or {n_layers} (one per layer), not "
                       f"{len(acts)}", "NB_ERR_ARG")
    acts = acts * n_layers if len(acts) == 1 else acts
    if "softmax" in acts:
        raise ArgError("act: softmax comes with loss='xent', not act", "NB_ERR_ARG")
    if loss == "xent":
        acts[-1] = "softmax"
    return acts


class MLP:
    """A multilayer perceptron on one device.

    layers: the widths, input first (e.g. [64, 32, 10]); act: an activation
    name for every layer or a list of one per layer ("sigmoid", "tanh",
    "relu", "identity"); loss: "mse" or "xent" (the output layer is then a
    softmax); seed: the parameter initialisation; device: "auto", "cpu",
    "opencl" or "opencl:P.D", as nb_backend_create takes it.
    """

    def __init__(self, layers, act="sigmoid", loss="mse", seed=1, device="auto"):
        self._model = self._backend = self._fallback = None
        self._open_backend(device)
        widths = [int(w) for w in layers]
        if len(widths) < 2:
            raise ArgError(f"layers: {widths}: at least an input and an output width",
                           "NB_ERR_ARG")
        n = len(widths) - 1
        codes = [_parse_enum(lib.nb_act_parse, "act", a) for a in _names(act, n, loss)]
        loss_code = _parse_enum(lib.nb_loss_parse, "loss", loss)
        m = ctypes.c_void_p()
        check(lib.nb_model_create(self._backend, n, (ctypes.c_int * (n + 1))(*widths),
                                  (ctypes.c_int * n)(*codes), loss_code, int(seed),
                                  ctypes.byref(m)))
        self._model = m.value

    def _open_backend(self, device):
        be = ctypes.c_void_p()
        check(lib.nb_backend_create(None if device is None else str(device).encode(),
                                    ctypes.byref(be)))
        self._backend = be.value
        self._auto = device in (None, "auto")

    @classmethod
    def _wrap_loaded(cls, path, device):
        self = cls.__new__(cls)
        self._model = self._backend = self._fallback = None
        self._open_backend(device)
        m = ctypes.c_void_p()
        check(lib.nb_model_load(self._backend, str(path).encode(), ctypes.byref(m)))
        self._model = m.value
        return self

    # ------------------------------------------------------------ properties

    @property
    def layers(self):
        return [lib.nb_model_width(self._model, i) for i in range(self.n_layers + 1)]

    @property
    def n_layers(self):
        return lib.nb_model_layers(self._model)

    @property
    def act(self):
        return [_lib.text(lib.nb_act_name(lib.nb_model_act(self._model, i)))
                for i in range(self.n_layers)]

    @property
    def loss(self):
        return _lib.text(lib.nb_loss_name(lib.nb_model_loss(self._model)))

    @property
    def device(self):
        """The backend's name, e.g. "cpu" or "opencl:0.0 (device name)"."""
        return _lib.text(lib.nb_backend_name(self._backend))

    @property
    def params(self):
        """θ as one float32 vector: A_1 row-major, b_1, A_2, b_2, ... (a copy)."""
        n = lib.nb_model_param_count(self._model)
        out = np.empty(n, dtype=np.float32)
        check(lib.nb_model_get_params(self._model, fptr(out), n))
        return out

    @params.setter
    def params(self, theta):
        n = lib.nb_model_param_count(self._model)
        t = np.ascontiguousarray(np.asarray(theta), dtype=np.float32).reshape(-1)
        if t.size != n:
            raise ArgError(f"params: {t.size} values, the model has {n}", "NB_ERR_ARG")
        check(lib.nb_model_set_params(self._model, fptr(t), n))

    # -------------------------------------------------------------- training

    def fit(self, X, y, *, val=None, standardize=False, callback=None, **options):
        """Train on X (rows, inputs) float32 and y: integer class labels
        (rows,) or float32 targets (rows, outputs). Returns a Result.

        val: None, a fraction of the rows held out (chosen by seed, the rows
        the nabla tool's --val takes), or a pair (X_val, y_val).
        standardize: scale the features by the training rows' mean and std,
        kept with the model. callback(epoch: Epoch): called every
        report_every epochs and after the last; a true return stops.

        options: the fields of nb_train_options and nb_schedule by their C
        names, over the library's defaults: max_epochs, max_iters, lr,
        lr_kind ("constant", "step", "exp", "inv", "cosine"), lr_gamma,
        lr_step, lr_decay, lr_warmup, lr_period, lr_min, line_search,
        armijo_c, ls_max_trials, optim ("sgd", "momentum", "nesterov",
        "adam", "adamw"), momentum, beta1, beta2, eps, weight_decay,
        clip_norm, target_loss (None: off), tol_grad, time_limit,
        plateau_tol, plateau_patience, early_stop, diverge_factor,
        check_every; batch (rows, or "full"), seed, report_every,
        measure_grad, save, save_every, resume, record.

        Raises a nabla.Error: NonFiniteError or DivergedError when the run
        was stopped for NaN or divergence (e.result says what it did; the
        last good parameters are back in the model). The GIL is released
        while the library trains; Python code runs only in the callback.
        """
        opt, keep = _options(options)
        inputs, outputs = self.layers[0], self.layers[-1]
        data = Dataset.from_numpy(X, y, inputs, outputs)
        train, vset = data, None
        if isinstance(val, (tuple, list)):
            vset = Dataset.from_numpy(val[0], val[1], inputs, outputs, name="val X")
        elif val is not None:
            train, vset = data.split(float(val), opt.seed)
        if standardize:
            mean = np.empty(inputs, dtype=np.float32)
            std = np.empty(inputs, dtype=np.float32)
            check(lib.nb_dataset_feature_stats(train.handle, fptr(mean), fptr(std)))
            check(lib.nb_model_set_standardization(self._model, fptr(mean), fptr(std)))
        if self._auto and not self.device.startswith("cpu") and not self._fallback:
            # As the nabla tool does under auto: a device that fails mid-run
            # hands the run to the cpu backend instead of losing it.
            fb = ctypes.c_void_p()
            check(lib.nb_backend_create(b"cpu", ctypes.byref(fb)))
            self._fallback = fb.value
        opt.fallback = self._fallback

        history, raised = [], []

        def on_epoch(_user, stats):
            # Runs with the GIL held (ctypes takes it for the callback). An
            # exception cannot cross the C frames: keep it, stop the run,
            # raise it once nb_train has returned.
            try:
                e = _epoch(stats.contents)
                history.append(e)
                return 1 if callback is not None and callback(e) else 0
            except BaseException as exc:  # KeyboardInterrupt too: stop, then raise
                raised.append(exc)
                return 1

        opt.on_epoch = _lib.EPOCH_FN(on_epoch)
        res = _lib.Result()
        st = lib.nb_train(self._model, train.handle, vset.handle if vset else None,
                          ctypes.byref(opt), ctypes.byref(res))
        err = error_for(st) if st != 0 else None
        for d in {id(x): x for x in (data, train, vset) if x}.values():
            d.free()
        del keep
        if raised:
            raise raised[0]
        result = _result(res, history)
        if err is not None:
            if isinstance(err, (NonFiniteError, DivergedError)):
                err.result = result
            raise err
        return result

    def fit_iter(self, X, y, **kwargs):
        """fit() as an iterator of Epoch, training in a thread meanwhile.
        Leaving the loop early stops the run at the next reported epoch.
        The iterator's result attribute holds the Result once it is
        exhausted; an error of the run is raised from the loop."""
        return _FitIter(self, X, y, kwargs)

    # ------------------------------------------------------------ inference

    def predict(self, X):
        """F(X) for X (rows, inputs): float32 (rows, outputs)."""
        x = matrix(X, "X", self.layers[0])
        out = np.empty((x.shape[0], self.layers[-1]), dtype=np.float32)
        check(lib.nb_model_predict(self._model, x.shape[0], fptr(x), fptr(out)))
        return out

    def evaluate(self, X, y):
        """(loss, accuracy) over X and y; accuracy is NaN for float targets."""
        d = Dataset.from_numpy(X, y, self.layers[0], self.layers[-1])
        loss, acc = ctypes.c_double(), ctypes.c_double(math.nan)
        is_labels = np.asarray(y).dtype.kind in "iu"
        try:
            check(lib.nb_model_evaluate(self._model, d.handle, ctypes.byref(loss),
                                        ctypes.byref(acc) if is_labels else None))
        finally:
            d.free()
        return loss.value, acc.value if is_labels else math.nan

    def save(self, path):
        """Write the model as a safetensors file (atomically)."""
        check(lib.nb_model_save(self._model, str(path).encode()))

    # --------------------------------------------------------------- cleanup

    def close(self):
        """Free the model, then its backends. The object is unusable after."""
        if getattr(self, "_model", None):
            lib.nb_model_free(self._model)
            self._model = None
        for attr in ("_backend", "_fallback"):
            if getattr(self, attr, None):
                lib.nb_backend_free(getattr(self, attr))
                setattr(self, attr, None)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if not self._model:
            return "MLP(closed)"
        return (f"MLP(layers={self.layers}, act={self.act}, loss={self.loss!r}, "
                f"device={self.device!r})")


class _FitIter:
    _DONE = object()

    def __init__(self, model, X, y, kwargs):
        self.result = None
        self._q = queue.Queue()
        self._stop = threading.Event()
        user_cb = kwargs.pop("callback", None)

        def cb(e):
            self._q.put(e)
            return self._stop.is_set() or (user_cb is not None and user_cb(e))

        def run():
            try:
                self.result = model.fit(X, y, callback=cb, **kwargs)
                self._q.put(self._DONE)
            except BaseException as exc:
                self._q.put(exc)

        self._thread = threading.Thread(target=run, name="nabla-fit", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        item = self._q.get()
        if item is self._DONE:
            self._thread.join()
            raise StopIteration
        if isinstance(item, BaseException):
            self._thread.join()
            raise item
        return item

    def close(self):
        """Stop the run at its next reported epoch and wait for it."""
        self._stop.set()
        self._thread.join()

    def __del__(self):
        if self._thread.is_alive():
            self.close()


def load(path, device="auto"):
    """A model saved by MLP.save, the nabla tool or a training checkpoint."""
    return MLP._wrap_loaded(path, device)
