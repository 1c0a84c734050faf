#!/usr/bin/env python3
"""st_check.py — nabla's safetensors files against Python, both ways.

Usage: st_check.py TEST_SAFETENSORS_BINARY

1. The C test binary writes its known checkpoint ("write-known"); the
   standard library alone checks the bytes: header length and space
   padding, the JSON, offsets tiling the data, every value (struct), both
   checksums (zlib), and nabla's metadata.
2. This script writes a checkpoint by hand, the way another writer might
   (keys reordered, ASCII escapes, no padding), and the C side must read
   it ("dump") with the same content; a one-bit change of a name must be
   refused.
3. When `safetensors` and numpy import: safe_open reads the C file, and
   safetensors.numpy.save_file writes a file that the C side must read.
   Without them it prints "skipped: safetensors/numpy not installed" (CTest
   reports the test as skipped) after 1 and 2 have passed.

It is a test, not a tool: it knows the known checkpoint's contents (they
mirror KNOWN in safetensors_test.c).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

# What safetensors_test.c writes in "write-known" mode: name, shape, values.
KNOWN = [
    ("layer.0.weight", [3, 4], [(i - 5) * 0.25 for i in range(12)]),
    ("layer.0.bias", [4], [-1.0, -0.5, 0.0, 0.5]),
    ("step", [], [42.0]),
    ("empty", [0, 3], []),
    ("unicodé-名前 😀", [2], [1.5, -2.25]),
    ("one", [1], [-0.0]),
]
KNOWN_META = {"epoch": "12", "note": "ünïcode ✓ \"quoted\"\n\ttab", "zz.last": ""}
RESERVED = ("nabla.format", "nabla.crc32", "nabla.header_crc32")


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def header_crc(entries, meta):
    """nabla.header_crc32 as safetensors.h defines it. entries: list of
    (name, shape, begin, end); meta: every metadata entry."""
    kv = sorted((k.encode(), v.encode()) for k, v in meta.items() if k != "nabla.header_crc32")
    buf = struct.pack("<QQ", len(entries), len(kv))
    for name, shape, begin, end in sorted(entries, key=lambda e: (e[2], e[3], e[0].encode())):
        buf += name.encode() + b"\0F32\0" + bytes([len(shape)])
        buf += b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<QQ", begin, end)
    for k, v in kv:
        buf += k + b"\0" + v + b"\0"
    return "%08x" % zlib.crc32(buf)


def split(blob):
    """(header dict in file order, data buffer, header length)."""
    check(len(blob) >= 8, "file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    check(8 + n <= len(blob), "header length past the end of the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    return header, blob[8 + n:], n


def check_c_file(path):
    """Step 1: the C writer's bytes, with the standard library only."""
    with open(path, "rb") as f:
        blob = f.read()
    header, data, n = split(blob)
    raw = blob[8:8 + n]
    check(n % 8 == 0, "header length %d is not a multiple of 8" % n)
    check(raw.rstrip(b" ").endswith(b"}") and len(raw) - len(raw.rstrip(b" ")) < 8,
          "header is not padded with fewer than 8 spaces")
    check(list(header)[0] == "__metadata__", "__metadata__ is not first")
    meta = header.pop("__metadata__")
    check(all(isinstance(v, str) for v in meta.values()), "a metadata value is not a string")
    check(list(header) == [k[0] for k in KNOWN], "tensor order %r" % list(header))
    at, entries = 0, []
    for name, shape, values in KNOWN:
        e = header[name]
        check(e == {"dtype": "F32", "shape": shape, "data_offsets": e["data_offsets"]} and
              list(e) == ["dtype", "shape", "data_offsets"], "entry %r: %r" % (name, e))
        begin, end = e["data_offsets"]
        check(begin == at and end - begin == 4 * len(values), "offsets of %r" % name)
        got = list(struct.unpack("<%df" % len(values), data[begin:end]))
        check(got == values and [str(v) for v in got] == [str(v) for v in values],
              "values of %r: %r" % (name, got))
        entries.append((name, shape, begin, end))
        at = end
    check(at == len(data), "tensors cover %d of %d data bytes" % (at, len(data)))
    check({k: v for k, v in meta.items() if k not in RESERVED} == KNOWN_META, "metadata %r" % meta)
    check(list(meta)[-3:] == list(RESERVED), "nabla's keys are not last")
    check(meta["nabla.format"] == "1", "nabla.format")
    check(meta["nabla.crc32"] == "%08x" % zlib.crc32(data), "nabla.crc32")
    check(meta["nabla.header_crc32"] == header_crc(entries, meta), "nabla.header_crc32")


def dump(binary, path):
    """The C reader's view of path as a dict, or None when it refuses."""
    r = subprocess.run([binary, "dump", path], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def expect_dump(binary, path, tensors, meta):
    got = dump(binary, path)
    check(got is not None, "C refused %s" % path)
    by_name = {t["name"]: t for t in got["tensors"]}
    check(sorted(by_name) == sorted(n for n, _, _ in tensors), "C sees %r" % sorted(by_name))
    for name, shape, values in tensors:
        t = by_name[name]
        check(t["shape"] == shape and t["data"] == values, "C reads %r as %r" % (name, t))
    check(got["meta"] == meta, "C metadata %r" % got["meta"])


def write_by_hand(path, tensors, meta, tamper=None):
    """Step 2: a valid nabla file in another writer's spelling. tensors are
    laid out in reverse order of the data, metadata comes last."""
    data, entries = b"", []
    for name, shape, values in reversed(tensors):
        entries.append((name, shape, len(data), len(data) + 4 * len(values)))
        data += struct.pack("<%df" % len(values), *values)
    meta = dict(meta, **{"nabla.format": "1", "nabla.crc32": "%08x" % zlib.crc32(data)})
    meta["nabla.header_crc32"] = header_crc(entries, meta)
    obj = {name: {"data_offsets": [b, e], "shape": shape, "dtype": "F32"}
           for name, shape, b, e in reversed(entries)}
    obj["__metadata__"] = meta
    raw = json.dumps(obj, ensure_ascii=True).encode()  # ", " and ": " separators
    if tamper:
        raw = raw.replace(tamper[0], tamper[1], 1)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data)


def with_library(binary, c_path, tmp):
    """Step 3: the real safetensors package, both directions."""
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(c_path, framework="numpy") as f:
        check(list(f.keys()) == sorted(n for n, _, _ in KNOWN), "safe_open keys %r" % list(f.keys()))
        for name, shape, values in KNOWN:
            a = f.get_tensor(name)
            check(a.dtype == np.float32 and list(a.shape) == shape, "safe_open %r shape" % name)
            check(a.ravel().tolist() == values, "safe_open %r values" % name)
        meta = f.metadata()
        check({k: v for k, v in meta.items() if k not in RESERVED} == KNOWN_META,
              "safe_open metadata %r" % meta)

    # safetensors' own writer: save once to learn its layout, then again
    # with nabla's checksums filled in (the layout does not depend on them).
    arrays = {n: np.array(v, dtype=np.float32).reshape(s) for n, s, v in KNOWN}
    user = {"from": "python", "epoch": "3"}
    path = os.path.join(tmp, "py.safetensors")
    save_file(arrays, path, metadata=dict(user, **{k: "0" * 8 for k in RESERVED}))
    with open(path, "rb") as f:
        header, data, _ = split(f.read())
    header.pop("__metadata__")
    entries = [(n, e["shape"], *e["data_offsets"]) for n, e in header.items()]
    meta = dict(user, **{"nabla.format": "1", "nabla.crc32": "%08x" % zlib.crc32(data)})
    meta["nabla.header_crc32"] = header_crc(entries, meta)
    save_file(arrays, path, metadata=meta)
    expect_dump(binary, path, KNOWN, user)


def main():
    if len(sys.argv) != 2:
        print("usage: st_check.py TEST_SAFETENSORS_BINARY", file=sys.stderr)
        return 2
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            c_path = os.path.join(tmp, "known.safetensors")
            subprocess.run([binary, "write-known", c_path], check=True)
            check_c_file(c_path)
            expect_dump(binary, c_path, KNOWN, KNOWN_META)
            print("ok: the C file's bytes, offsets, values and checksums")

            hand = os.path.join(tmp, "hand.safetensors")
            write_by_hand(hand, KNOWN, {"k": "v", "é": "ü"})
            expect_dump(binary, hand, KNOWN, {"k": "v", "é": "ü"})
            write_by_hand(hand, KNOWN, {"k": "v"}, tamper=(b'"step"', b'"stdp"'))
            check(dump(binary, hand) is None, "C accepted a renamed tensor")
            print("ok: C reads a hand-written file and refuses a tampered one")

            try:
                import numpy  # noqa: F401
                import safetensors  # noqa: F401
            except ImportError:
                print("skipped: safetensors/numpy not installed")
                return 0
            with_library(binary, c_path, tmp)
            print("ok: safetensors %s reads the C file; C reads safetensors' file"
                  % safetensors.__version__)
        except (CheckFailed, subprocess.CalledProcessError, KeyError, ValueError) as e:
            print("FAIL: %s" % e)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
