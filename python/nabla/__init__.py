"""nabla: train multilayer perceptrons from numpy with the nabla C library.

    import numpy as np, nabla
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    net = nabla.MLP([2, 4, 1], act=["tanh", "sigmoid"], device="cpu")
    net.fit(X, y, batch="full", optim="adam", lr=0.05, max_epochs=5000, target_loss=1e-3)
    print(net.predict(X))

The package is a ctypes binding over libnabla.so (see nabla._lib for how
the library is found). Failed calls raise a nabla.Error subclass carrying
the library's message; training releases the GIL.
"""
import ctypes
from dataclasses import dataclass

from . import _lib
from .errors import (ArgError, BackendError, DataError, DivergedError, Error, FileError,
                     InternalError, NoMemError, NonFiniteError, UnsupportedError, check)
from .mlp import HALTS, MLP, Epoch, Result, load

__all__ = ["MLP", "load", "devices", "Device", "Epoch", "Result", "HALTS", "Error", "ArgError",
           "NoMemError", "FileError", "DataError", "BackendError", "UnsupportedError",
           "NonFiniteError", "InternalError", "DivergedError", "library_path", "__version__"]

# The loaded library's file and version (nb_version()); the package is
# built with the same version.
library_path = _lib.lib._name
__version__ = _lib.text(_lib.lib.nb_version())


@dataclass
class Device:
    """A device string MLP(device=...) takes, and what it is. auto: the one
    device="auto" picks."""
    id: str
    type: str
    name: str
    auto: bool
    platform: str = ""
    vendor: str = ""
    driver: str = ""
    version: str = ""
    compute_units: int = 0
    clock_mhz: int = 0
    global_mem: int = 0
    max_alloc: int = 0


def devices():
    """Every device: the pure-C "cpu" backend first, then each OpenCL
    device as "opencl:P.D" (none when this build or machine has no OpenCL)."""
    cap = 64
    infos = (_lib.DeviceInfo * cap)()
    count, pick = ctypes.c_int(0), ctypes.c_int(-1)
    st = _lib.lib.nb_opencl_devices(infos, cap, ctypes.byref(count), ctypes.byref(pick))
    if st == 6:  # NB_ERR_UNSUPPORTED: no OpenCL here, which is not an error for a listing
        count.value, pick.value = 0, -1
    else:
        check(st)
    out = [Device("cpu", "CPU", "pure-C backend", pick.value < 0)]
    t = _lib.text
    for i in range(min(count.value, cap)):
        d = infos[i]
        out.append(Device(f"opencl:{d.platform}.{d.device}", t(d.type), t(d.name), i == pick.value,
                          t(d.platform_name), t(d.vendor), t(d.driver), t(d.version),
                          d.compute_units, d.clock_mhz, d.global_mem, d.max_alloc))
    return out
