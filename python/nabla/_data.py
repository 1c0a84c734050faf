"""nabla._data: numpy arrays checked and turned into the library's datasets.

The library reads row-major float32 (and int32 labels) through pointers,
so every array is checked for its number of dimensions and columns and,
when its dtype or memory layout is not what C reads, converted once here
(a copy); what cannot be converted raises ArgError naming the argument.
"""
import ctypes

import numpy as np

from . import _lib
from .errors import ArgError, check


def matrix(a, name, cols=None):
    """a as a C-contiguous float32 (rows, cols) array; 1-D only when cols is 1."""
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise ArgError(f"{name}: not an array of numbers: {e}", "NB_ERR_ARG") from None
    if arr.dtype.kind not in "fiub":
        raise ArgError(f"{name}: dtype {arr.dtype} is not numeric (float32 expected)",
                       "NB_ERR_ARG")
    if arr.ndim == 1 and cols == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        want = f"(rows, {cols})" if cols else "(rows, columns)"
        raise ArgError(f"{name}: shape {arr.shape}, expected {want}", "NB_ERR_ARG")
    if cols is not None and arr.shape[1] != cols:
        raise ArgError(f"{name}: {arr.shape[1]} columns, the model has {cols}", "NB_ERR_ARG")
    if arr.shape[0] == 0:
        raise ArgError(f"{name}: no rows", "NB_ERR_ARG")
    # float64 and integer inputs become float32 here, as the library trains in float32.
    return np.ascontiguousarray(arr, dtype=np.float32)


def labels(a, name, classes):
    """a as C-contiguous int32 class labels in [0, classes)."""
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ArgError(f"{name}: shape {arr.shape}, labels must be 1-D (rows,)", "NB_ERR_ARG")
    if arr.size and (arr.min() < 0 or arr.max() >= classes):
        raise ArgError(f"{name}: labels {arr.min()} to {arr.max()}, the model has {classes} "
                       f"classes (0 to {classes - 1})", "NB_ERR_ARG")
    return np.ascontiguousarray(arr, dtype=np.int32)


def fptr(arr):
    return arr.ctypes.data_as(_lib.c_float_p)


class Dataset:
    """An nb_dataset made from numpy arrays; the library copies the arrays."""

    def __init__(self, handle):
        self.handle = handle

    @classmethod
    def from_numpy(cls, X, y, inputs, outputs, name="X"):
        x = matrix(X, name, inputs)
        ya = np.asarray(y)
        out = ctypes.c_void_p()
        if ya.dtype.kind in "iu" and ya.ndim == 1:
            # Integer labels: a classification set, trained on one-hot rows.
            lab = labels(ya, "y" if name == "X" else "val y", outputs)
            if lab.shape[0] != x.shape[0]:
                raise ArgError(f"{name} has {x.shape[0]} rows but its labels {lab.shape[0]}",
                               "NB_ERR_ARG")
            check(_lib.lib.nb_dataset_from_labels(x.shape[0], inputs, outputs, fptr(x),
                                                  lab.ctypes.data_as(_lib.c_int32_p),
                                                  ctypes.byref(out)))
        else:
            t = matrix(ya, "y" if name == "X" else "val y", outputs)
            if t.shape[0] != x.shape[0]:
                raise ArgError(f"{name} has {x.shape[0]} rows but y has {t.shape[0]}",
                               "NB_ERR_ARG")
            check(_lib.lib.nb_dataset_from_arrays(x.shape[0], inputs, outputs, fptr(x), fptr(t),
                                                  ctypes.byref(out)))
        return cls(out.value)

    def split(self, fraction, seed):
        """(train, val) views: the same rows nb_dataset_split_views picks,
        which is also how the nabla tool holds out --val."""
        if not 0.0 < fraction < 1.0:
            raise ArgError(f"val={fraction}: a fraction must be in (0, 1)", "NB_ERR_ARG")
        tr, va = ctypes.c_void_p(), ctypes.c_void_p()
        check(_lib.lib.nb_dataset_split_views(self.handle, fraction, seed, ctypes.byref(tr),
                                              ctypes.byref(va)))
        return Dataset(tr.value), Dataset(va.value)

    def free(self):
        if self.handle:
            _lib.lib.nb_dataset_free(self.handle)
            self.handle = None

    def __del__(self):
        self.free()
