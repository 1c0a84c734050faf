"""nabla.errors: the exceptions a failed library call raises.

Each nb_status other than NB_OK has one class, all derived from
nabla.Error; each also derives from the built-in exception a Python
programmer would catch for that kind of failure (ValueError for bad
arguments and bad data, OSError for files, MemoryError, ...). The message
is nb_last_error(): the call, the reason and where it was found.
"""
from ._lib import lib, text


class Error(Exception):
    """A nabla call failed. status: the nb_status name ("NB_ERR_DATA", ...);
    message: nb_last_error() of the failed call."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status


class ArgError(Error, ValueError):
    """NB_ERR_ARG: an argument is out of range or inconsistent."""


class NoMemError(Error, MemoryError):
    """NB_ERR_NOMEM: an allocation failed."""


class FileError(Error, OSError):
    """NB_ERR_IO: a file could not be opened, read or written."""


class DataError(Error, ValueError):
    """NB_ERR_DATA: data or a file is malformed."""


class BackendError(Error, RuntimeError):
    """NB_ERR_BACKEND: the compute device failed."""


class UnsupportedError(Error, RuntimeError):
    """NB_ERR_UNSUPPORTED: a valid request this build or device cannot do."""


class NonFiniteError(Error, ArithmeticError):
    """NB_ERR_NONFINITE: a loss, gradient or parameter became NaN or Inf.
    After training, result holds what the run did (the last good
    parameters were restored)."""
    result = None


class InternalError(Error, RuntimeError):
    """NB_ERR_INTERNAL: a broken invariant inside nabla."""


class DivergedError(Error, ArithmeticError):
    """NB_ERR_DIVERGED: the loss grew past the divergence factor. After
    training, result holds what the run did (the last good parameters were
    restored)."""
    result = None


# Indexed by nb_status (include/nabla.h's order).
_BY_STATUS = [None, ArgError, NoMemError, FileError, DataError, BackendError,
              UnsupportedError, NonFiniteError, InternalError, DivergedError]


def error_for(status):
    """The exception for a failed call's status, with nb_last_error()."""
    cls = _BY_STATUS[status] if 0 < status < len(_BY_STATUS) else Error
    return cls(text(lib.nb_last_error()), text(lib.nb_status_str(status)))


def check(status):
    """Raise the exception for status unless it is NB_OK (0)."""
    if status != 0:
        raise error_for(status)
