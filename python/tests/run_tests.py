"""Runs the Python package's tests with pytest, for CTest.

Usage: run_tests.py LIBNABLA.so  (NABLA_CLI and NABLA_DATA_DIR from CTest)

Exits 77 (CTest: skipped) after saying why when numpy or pytest is
missing, so a machine without them skips visibly instead of passing.
"""
import os
import sys

missing = []
for mod in ("numpy", "pytest"):
    try:
        __import__(mod)
    except ImportError:
        missing.append(mod)
if missing:
    print(f"skipped: {' and '.join(missing)} not installed for {sys.executable} "
          f"(python3 -m pip install {' '.join(missing)})")
    sys.exit(77)
if len(sys.argv) != 2 or not os.path.exists(sys.argv[1]):
    print(f"usage: run_tests.py LIBNABLA.so (got {sys.argv[1:]})")
    sys.exit(2)

import pytest  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
os.environ["NABLA_LIBRARY"] = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.dirname(here))  # python/: the package as it is in the tree
# -p no:cacheprovider: write nothing into the source tree; -rs: say why a test skipped.
sys.exit(pytest.main([here, "-q", "-rs", "-p", "no:cacheprovider"]))
