"""Restricted unpickling for the data files we read: MMSA / MulT pickles and MERTools ``label.npz``.

Why: these files come from Google-Drive / Baidu mirrors, shared folders and colleagues. A pickle is a
small program: a crafted one whose objects reduce to ``os.system`` (or ``subprocess``, ``eval``, ...)
runs its command the moment ``pickle.load`` reads it, before any check of ours can look at the data.
The data these formats hold are only arrays, dicts, lists, strings and numbers, so the unpickler here
admits only the globals that such data need and refuses every other one with
:class:`UnsafePickleError`, naming the file and the ``module.name`` the pickle asked for. Nothing of
the refused file runs.

Admitted globals (``module.name`` as written in the pickle):

* numpy arrays, dtypes and scalars, from numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) alike:
  ``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.multiarray._reconstruct`` /
  ``numpy._core.multiarray._reconstruct``, ``numpy.core.multiarray.scalar`` /
  ``numpy._core.multiarray.scalar``, ``numpy.core.numeric._frombuffer`` /
  ``numpy._core.numeric._frombuffer`` (protocol 5);
* builtin data types: ``dict``, ``list``, ``tuple``, ``set``, ``frozenset``, ``str``, ``bytes``,
  ``bytearray``, ``int``, ``float``, ``complex``, ``bool`` (``builtins`` or Python 2's
  ``__builtin__``); ``None``, ``True``, strings, numbers, lists, tuples and dicts need no global;
* ``collections.OrderedDict`` and ``collections.defaultdict``;
* ``_codecs.encode`` (protocol 0-2 pickles store ``bytes`` as ``_codecs.encode(text, "latin1")``),
  restricted to the ``latin1`` / ``utf-8`` / ``ascii`` codecs.

Functions: :func:`safe_load` (an open binary file → the object), :func:`safe_loads` (bytes → the
object) and :func:`safe_load_npz_member` (one member of an ``np.load(..., allow_pickle=False)``
``NpzFile``; object arrays are unpickled with the restricted unpickler, others read by numpy).
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import pickle
from typing import IO, Any

import numpy as np

__all__ = [
    "UnsafePickleError",
    "RestrictedUnpickler",
    "safe_load",
    "safe_loads",
    "safe_load_npz_member",
    "safe_load_npz_object",
]

_BUILTIN_TYPES = ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float",
                  "complex", "bool")

#: ``(module, name)`` pairs the unpickler admits (module names after Python 2 → 3 renaming).
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("builtins", n) for n in _BUILTIN_TYPES}
    | {("collections", "OrderedDict"), ("collections", "defaultdict"), ("_codecs", "encode")}
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {(f"numpy.{core}.multiarray", n) for core in ("core", "_core") for n in ("_reconstruct", "scalar")}
    | {(f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")}
)

_SAFE_CODECS = frozenset({"iso8859-1", "utf-8", "ascii"})  # codecs.lookup(...).name of latin1, utf-8, ascii


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a global outside :data:`ALLOWED_GLOBALS`; nothing of it was run."""


def _safe_encode(source: str):
    """``_codecs.encode`` for the text codecs pickles of ``bytes`` use (``latin1``), nothing else."""

    def encode(obj, encoding: str = "utf-8", errors: str = "strict"):
        try:
            codec = codecs.lookup(encoding).name if isinstance(encoding, str) else None
        except LookupError:
            codec = None
        if not isinstance(obj, str) or codec not in _SAFE_CODECS:
            raise UnsafePickleError(
                f"{source}: refusing _codecs.encode with encoding {encoding!r} on a {type(obj).__name__}"
            )
        return codecs.encode(obj, encoding, errors)

    return encode


def _canonical(module: str, name: str) -> tuple[str, str]:
    """Python 2 names (``__builtin__``, ``copy_reg``, ...) as Python 3 spells them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` whose :meth:`find_class` admits only :data:`ALLOWED_GLOBALS`.

    ``source`` (e.g. ``"load_mmsa: /data/unaligned_50.pkl"``) starts the error message. ``hint`` ends it
    (how to convert a trusted file).
    """

    def __init__(self, file: IO[bytes], *, source: str, hint: str | None = None, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.source = source
        self.hint = hint

    def find_class(self, module: str, name: str) -> Any:
        canonical = _canonical(module, name)
        if canonical not in ALLOWED_GLOBALS:
            what = f"{canonical[0]}.{canonical[1]}"
            raise UnsafePickleError(
                f"{self.source}: refusing to load '{what}': MMSA/MulT pickles and MERTools label files contain "
                "only numpy arrays, dicts, lists, strings and numbers; this file may run code when unpickled. "
                + (self.hint or "If you trust it, convert it: load it with plain pickle.load in your own session "
                   "and pickle.dump the dict of arrays again (a file of plain arrays and dicts loads here).")
            )
        if canonical == ("_codecs", "encode"):
            return _safe_encode(self.source)
        return super().find_class(*canonical)


def safe_load(file_obj: IO[bytes], *, source: str, hint: str | None = None, **kwargs: Any) -> Any:
    """``pickle.load`` through :class:`RestrictedUnpickler` (``kwargs``: ``encoding``, ``fix_imports``, ...).

    Raises:
        UnsafePickleError: the pickle refers to a global outside :data:`ALLOWED_GLOBALS`.
        pickle.UnpicklingError, EOFError, ...: as ``pickle.load`` for a corrupt file.
    """
    return RestrictedUnpickler(file_obj, source=source, hint=hint, **kwargs).load()


def safe_loads(data: bytes, *, source: str, hint: str | None = None, **kwargs: Any) -> Any:
    """:func:`safe_load` on bytes."""
    return safe_load(io.BytesIO(data), source=source, hint=hint, **kwargs)


_NPZ_HINT = (
    "If you trust it, load it with numpy.load(..., allow_pickle=True) in your own session and re-save plain "
    "dicts with numpy.savez(path, train_corpus=numpy.array(d, dtype=object), ...)."
)


def safe_load_npz_member(npz: np.lib.npyio.NpzFile, key: str, *, source: str) -> np.ndarray:
    """Member ``key`` of an ``NpzFile`` opened with ``allow_pickle=False``; object arrays too, safely.

    A non-object member is read by numpy (``npz[key]``). An object-dtype member is a ``.npy`` whose header
    is followed by a pickle of the array: the header is parsed with ``numpy.lib.format`` and the pickle read
    with :class:`RestrictedUnpickler` (as numpy's ``read_array`` does, with its default ``encoding="ASCII"``).

    Raises:
        KeyError: no such member. UnsafePickleError: the member's pickle refers to a forbidden global.
        ValueError: the member is not a ``.npy`` array.
    """
    if key not in npz.files:
        raise KeyError(f"{source}: no member '{key}' (members: {npz.files})")
    members = npz.zip.namelist()
    member = f"{key}.npy" if f"{key}.npy" in members else key
    fmt = np.lib.format
    with npz.zip.open(member) as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            read_header = getattr(fmt, "_read_array_header", None)
            if read_header is None:
                raise ValueError(f"{source}: member '{key}' has .npy format version {version}, not supported")
            shape, _fortran, dtype = read_header(f, version)
        if not dtype.hasobject:
            return npz[key]
        arr = safe_load(f, source=f"{source} (member '{key}')", hint=_NPZ_HINT, encoding="ASCII")
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{source}: member '{key}' holds a pickled {type(arr).__name__}, expected an array")
    if arr.shape != tuple(shape):
        raise ValueError(f"{source}: member '{key}' has shape {arr.shape}, its header says {tuple(shape)}")
    return arr


#: Alias of :func:`safe_load_npz_member`.
safe_load_npz_object = safe_load_npz_member
