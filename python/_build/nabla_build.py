"""A build backend (PEP 517, PEP 660) for the nabla Python package, kept in
the source tree so that `pip install ./python` needs nothing from a package
index: no setuptools, no wheel, no compiler. The package is pure Python; it
loads the separately built C library at run time. A libnabla.so* placed in
python/nabla/ before building goes into the wheel (then tagged for this
platform), and the package finds it there.

The version is the C library's, read from the top-level CMakeLists.txt's
project() (or, in an sdist, from its PKG-INFO), so that it is written in
one place.
"""
import base64
import hashlib
import io
import os
import re
import sysconfig
import tarfile
import zipfile

NAME = "nabla"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # python/
SUMMARY = "Train multilayer perceptrons from numpy with the nabla C library"


def _version():
    pkg_info = os.path.join(HERE, "PKG-INFO")
    if os.path.exists(pkg_info):
        with open(pkg_info, encoding="utf-8") as f:
            m = re.search(r"^Version: (\S+)$", f.read(), re.M)
        if m:
            return m.group(1)
    cmake = os.path.join(HERE, os.pardir, "CMakeLists.txt")
    with open(cmake, encoding="utf-8") as f:
        m = re.search(r"^project\(nabla VERSION ([0-9.]+)", f.read(), re.M)
    if not m:
        raise RuntimeError(f"{cmake}: no project(nabla VERSION ...) found")
    return m.group(1)


def _metadata():
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            f"Summary: {SUMMARY}\nLicense: MIT\nRequires-Python: >=3.8\n"
            "Requires-Dist: numpy\n")


def _package_files():
    pkg = os.path.join(HERE, NAME)
    names = sorted(n for n in os.listdir(pkg)
                   if n.endswith(".py") or re.fullmatch(r"libnabla\.so(\.\d+)*", n))
    return [(f"{NAME}/{n}", os.path.join(pkg, n)) for n in names]


def _tag(files):
    if any(".so" in arc for arc, _ in files):
        plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        return f"py3-none-{plat}"
    return "py3-none-any"


def _write_wheel(directory, files):
    """files: (archive name, bytes). Adds the dist-info and returns the name."""
    version = _version()
    tag = _tag([(a, None) for a, _ in files])
    dist_info = f"{NAME}-{version}.dist-info"
    files = files + [
        (f"{dist_info}/METADATA", _metadata().encode()),
        (f"{dist_info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: nabla_build\n"
                                f"Root-Is-Purelib: {'false' if 'any' not in tag else 'true'}\n"
                                f"Tag: {tag}\n").encode()),
    ]
    record = []
    for arc, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arc},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    wheel_name = f"{NAME}-{version}-{tag}.whl"
    with zipfile.ZipFile(os.path.join(directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(arc, data)
        z.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel_name


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def _prepare_metadata(metadata_directory):
    dist_info = f"{NAME}-{_version()}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w",
              encoding="utf-8") as f:
        f.write(_metadata())
    return dist_info


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _prepare_metadata(metadata_directory)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _prepare_metadata(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [(a, _read(p)) for a, p in _package_files()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth line puts python/ on sys.path: edits to the sources take effect at once.
    return _write_wheel(wheel_directory, [(f"_{NAME}_editable.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        def add(arc, data):
            info = tarfile.TarInfo(f"{base}/{arc}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        add("PKG-INFO", _metadata().encode())
        add("pyproject.toml", _read(os.path.join(HERE, "pyproject.toml")))
        add("README.md", _read(os.path.join(HERE, "README.md")))
        add("_build/nabla_build.py", _read(os.path.abspath(__file__)))
        for arc, path in _package_files():
            if arc.endswith(".py"):
                add(arc, _read(path))
    return name
