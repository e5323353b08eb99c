""".npy and .npz files as bytes: the one reader (and writer) of numpy's formats in specc.

Used for a spec's data files (files.py), `specc predict` inputs and `specc serve` request
bodies (backends/onnx: runtime.py re-exports these names). Never unpickles. numpy only;
also copied into the emitted training program (files.py says why), hence the imports
inside the functions.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

NPY_MAGIC = b"\x93NUMPY"
NPZ_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive (the second: an empty one)

# the header numpy writes for a plain array; anything else goes through np.load
_NPY_HEADER = r"\{'descr': '([<>|=][a-zA-Z]\d*)', 'fortran_order': (True|False), 'shape': \(([\d, ]*)\),? *\}"


def load_npy(data: bytes) -> np.ndarray:
    """An array from .npy bytes (never pickles). A fast path for plain numeric arrays
    (np.load parses the header with ast, ~10x slower for small arrays), np.load otherwise."""
    if data[:6] == b"\x93NUMPY" and len(data) >= 10:
        major = data[6]
        start = 10 if major == 1 else 12
        hlen = int.from_bytes(data[8:start], "little")
        import re  # here, not at the top: this module is copied into emitted training programs
        m = re.match(_NPY_HEADER, data[start:start + hlen].decode("latin1", "replace").strip())
        if m:
            dtype = np.dtype(m.group(1))
            if dtype.kind in "biufc":
                shape = tuple(int(d) for d in m.group(3).split(",") if d.strip())
                count = 1
                for d in shape:
                    count *= d
                if len(data) - start - hlen >= count * dtype.itemsize:
                    arr = np.frombuffer(data, dtype, count, offset=start + hlen)
                    return arr.reshape(shape, order="F" if m.group(2) == "True" else "C")
    if data[:6] != b"\x93NUMPY":
        raise ValueError("no .npy header (the bytes do not start with \\x93NUMPY)")
    import io
    arr = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(arr, np.ndarray):
        raise ValueError("not a single .npy array")
    return arr


def dump_npy(arr: np.ndarray) -> bytes:
    """.npy (format 1.0) bytes of a numeric array; np.save's header code is slow for small arrays."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biufc" or arr.dtype.fields is not None:
        import io
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    shape = repr(tuple(int(d) for d in arr.shape))  # "(2, 3)", "(2,)", "()" as numpy writes them
    header = f"{{'descr': '{arr.dtype.str}', 'fortran_order': False, 'shape': {shape}, }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + \
        np.ascontiguousarray(arr).tobytes()


def dump_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """.npz bytes (uncompressed, like np.savez) of named arrays; any names allowed."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, arr in arrays.items():
            z.writestr(f"{name}.npy", dump_npy(arr))
    return buf.getvalue()


def load_npz(data: bytes, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Arrays by name from .npz bytes (never pickles). With `max_bytes`, archives whose members
    would unpack to more than that are refused before anything is decompressed (zip bombs)."""
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        if max_bytes is not None and total > max_bytes:
            raise ArchiveTooLarge(f"the archive unpacks to {total} bytes, over the limit of {max_bytes}")
        out = {}
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            out[name] = load_npy(z.read(info))
        return out


class ArchiveTooLarge(ValueError):
    pass
