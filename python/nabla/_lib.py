"""nabla._lib: the shared library and its C declarations, for ctypes.

Every struct here mirrors one in include/nabla.h field by field; the
library is opened once, on import, and the layout of the largest struct is
checked against the library itself (see _check_layout) so that a header
that changed without this file fails loudly instead of corrupting memory.

The library is looked for, in this order: the file $NABLA_LIBRARY names,
a libnabla.so next to this package, then the system's search path
(ctypes.util.find_library("nabla")).

ctypes.CDLL releases the GIL around every foreign call, so other Python
threads run while nb_train trains; the callbacks (CFUNCTYPE) take the GIL
back for as long as they run Python code.
"""
import ctypes
import ctypes.util
import glob
import math
import os

c_int, c_long, c_double, c_size_t = ctypes.c_int, ctypes.c_long, ctypes.c_double, ctypes.c_size_t
c_uint, c_uint64, c_int64 = ctypes.c_uint, ctypes.c_uint64, ctypes.c_int64
c_char_p, c_void_p = ctypes.c_char_p, ctypes.c_void_p
c_float_p = ctypes.POINTER(ctypes.c_float)
c_int32_p = ctypes.POINTER(ctypes.c_int32)


class Schedule(ctypes.Structure):
    """struct nb_schedule"""
    _fields_ = [
        ("lr", c_double), ("lr_kind", c_int), ("lr_gamma", c_double), ("lr_step", c_long),
        ("lr_decay", c_double), ("lr_warmup", c_long), ("lr_period", c_long),
        ("lr_min", c_double), ("line_search", c_int), ("armijo_c", c_double),
        ("ls_max_trials", c_int), ("optim", c_int), ("momentum", c_double),
        ("beta1", c_double), ("beta2", c_double), ("eps", c_double),
        ("weight_decay", c_double), ("clip_norm", c_double), ("max_iters", c_long),
        ("max_epochs", c_long), ("target_loss", c_double), ("tol_grad", c_double),
        ("time_limit", c_double), ("plateau_tol", c_double), ("plateau_patience", c_long),
        ("early_stop", c_long), ("diverge_factor", c_double), ("check_every", c_long),
    ]


class EpochStats(ctypes.Structure):
    """struct nb_epoch_stats"""
    _fields_ = [
        ("epoch", c_long), ("iters", c_long), ("loss", c_double), ("grad_norm", c_double),
        ("val_loss", c_double), ("val_acc", c_double), ("lr", c_double), ("trials", c_int),
        ("seconds", c_double),
    ]


EPOCH_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(EpochStats))
BATCH_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)


class TrainOptions(ctypes.Structure):
    """struct nb_train_options"""
    _fields_ = [
        ("schedule", Schedule), ("batch", c_size_t), ("seed", c_uint64),
        ("report_every", c_long), ("measure_grad", c_int), ("save", c_char_p),
        ("save_every", c_long), ("resume", c_char_p), ("on_epoch", EPOCH_FN),
        ("on_batch", BATCH_FN), ("user", c_void_p), ("record", c_char_p),
        ("interrupt", ctypes.POINTER(c_int)),  # sig_atomic_t is int on every Linux ABI
        ("fallback", c_void_p),
    ]


class Result(ctypes.Structure):
    """struct nb_result"""
    _fields_ = [
        ("halt", c_int), ("why", ctypes.c_char * 192), ("iters", c_long), ("epochs", c_long),
        ("evals", c_long), ("grad_evals", c_long), ("loss", c_double), ("grad_norm", c_double),
        ("val_loss", c_double), ("val_acc", c_double), ("lr", c_double), ("seconds", c_double),
        ("updates", c_long), ("fallback", ctypes.c_char * 256), ("fallback_iters", c_long),
    ]


class DeviceInfo(ctypes.Structure):
    """struct nb_device_info"""
    _fields_ = [
        ("platform", c_int), ("device", c_int), ("platform_name", ctypes.c_char * 128),
        ("name", ctypes.c_char * 128), ("vendor", ctypes.c_char * 128),
        ("driver", ctypes.c_char * 64), ("version", ctypes.c_char * 128),
        ("type", ctypes.c_char * 8), ("compute_units", c_uint), ("clock_mhz", c_uint),
        ("global_mem", c_uint64), ("local_mem", c_uint64), ("max_alloc", c_uint64),
        ("max_work_group", c_size_t),
    ]


class OpProfile(ctypes.Structure):
    """struct nb_op_profile"""
    _fields_ = [("op", c_char_p), ("calls", c_uint64), ("seconds", c_double),
                ("flops", c_double), ("bytes", c_double)]


def _candidates():
    env = os.environ.get("NABLA_LIBRARY")
    if env:
        return [env]  # named explicitly: no silent fallback to another copy
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "libnabla.so*")), key=len)
    system = ctypes.util.find_library("nabla")
    return found + ([system] if system else [])


def _open():
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
    raise ImportError("nabla: cannot load the nabla shared library (libnabla.so); build it and "
                      "set NABLA_LIBRARY to its path, or install it where the system finds it"
                      + ("; tried " + "; ".join(tried) if tried else ""))


lib = _open()

P = ctypes.POINTER
_protos = {
    "nb_status_str": (c_char_p, [c_int]),
    "nb_last_error": (c_char_p, []),
    "nb_version": (c_char_p, []),
    "nb_act_parse": (c_int, [c_char_p, P(c_int)]),
    "nb_loss_parse": (c_int, [c_char_p, P(c_int)]),
    "nb_act_name": (c_char_p, [c_int]),
    "nb_loss_name": (c_char_p, [c_int]),
    "nb_optim_parse": (c_int, [c_char_p, P(c_int)]),
    "nb_lr_kind_parse": (c_int, [c_char_p, P(c_int)]),
    "nb_backend_create": (c_int, [c_char_p, P(c_void_p)]),
    "nb_backend_free": (None, [c_void_p]),
    "nb_backend_name": (c_char_p, [c_void_p]),
    "nb_backend_note": (c_char_p, [c_void_p]),
    "nb_opencl_devices": (c_int, [P(DeviceInfo), c_int, P(c_int), P(c_int)]),
    "nb_backend_profile_enable": (c_int, [c_void_p, c_int]),
    "nb_backend_profile": (c_int, [c_void_p, P(OpProfile), c_int]),
    "nb_dataset_from_arrays": (c_int, [c_size_t, c_int, c_int, c_float_p, c_float_p,
                                       P(c_void_p)]),
    "nb_dataset_from_labels": (c_int, [c_size_t, c_int, c_int, c_float_p, c_int32_p,
                                       P(c_void_p)]),
    "nb_dataset_split_views": (c_int, [c_void_p, c_double, c_uint64, P(c_void_p), P(c_void_p)]),
    "nb_dataset_free": (None, [c_void_p]),
    "nb_dataset_feature_stats": (c_int, [c_void_p, c_float_p, c_float_p]),
    "nb_model_create": (c_int, [c_void_p, c_int, P(c_int), P(c_int), c_int, c_uint64,
                                P(c_void_p)]),
    "nb_model_free": (None, [c_void_p]),
    "nb_model_layers": (c_int, [c_void_p]),
    "nb_model_width": (c_int, [c_void_p, c_int]),
    "nb_model_act": (c_int, [c_void_p, c_int]),
    "nb_model_loss": (c_int, [c_void_p]),
    "nb_model_param_count": (c_size_t, [c_void_p]),
    "nb_model_get_params": (c_int, [c_void_p, c_float_p, c_size_t]),
    "nb_model_set_params": (c_int, [c_void_p, c_float_p, c_size_t]),
    "nb_model_set_standardization": (c_int, [c_void_p, c_float_p, c_float_p]),
    "nb_model_predict": (c_int, [c_void_p, c_size_t, c_float_p, c_float_p]),
    "nb_model_evaluate": (c_int, [c_void_p, c_void_p, P(c_double), P(c_double)]),
    "nb_model_save": (c_int, [c_void_p, c_char_p]),
    "nb_model_load": (c_int, [c_void_p, c_char_p, P(c_void_p)]),
    "nb_train_options_default": (None, [c_void_p]),
    "nb_train": (c_int, [c_void_p, c_void_p, c_void_p, P(TrainOptions), P(Result)]),
}
for _name, (_res, _args) in _protos.items():
    _fn = getattr(lib, _name)
    _fn.restype, _fn.argtypes = _res, _args


def _check_layout():
    """nb_train_options_default writes the whole C struct: it must fit in
    ours (the guard bytes after it stay intact) and land on our fields."""
    guard = 64
    buf = (ctypes.c_ubyte * (ctypes.sizeof(TrainOptions) + guard))(*([0xA5] * (
        ctypes.sizeof(TrainOptions) + guard)))
    lib.nb_train_options_default(buf)
    o = TrainOptions.from_buffer(buf)
    s = o.schedule
    ok = (all(b == 0xA5 for b in buf[ctypes.sizeof(TrainOptions):])
          and s.lr == 0.5 and s.max_epochs == 100 and math.isnan(s.target_loss)
          and s.diverge_factor == 1e3 and s.check_every == 1 and o.batch == 32
          and o.seed == 1 and o.report_every == 1 and o.save_every == 1 and not o.fallback)
    if not ok:
        raise ImportError("nabla: the loaded library's nb_train_options does not match this "
                          "package's; the package and the library come from different versions")


_check_layout()


def text(b):
    """A C string from the library as str."""
    return b.decode("utf-8", "replace") if b is not None else ""
