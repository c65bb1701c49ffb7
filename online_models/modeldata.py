"""Model snapshots as data, never code: JSON (orjson) with a schema version per component.

Every estimator of the model bundle has ``to_data() -> dict`` and ``from_data(d)``: plain
JSON values (numbers, strings, lists, string-keyed objects) and, for large numeric arrays,
:func:`pack` blocks (base64 of a little-endian array with its dtype and shape). Loading never
runs code from the data: :func:`loads` only parses JSON, and the readers here check the type,
range, finiteness and shape of every value and raise ``ValueError`` with the path of the
offending field.

Pure: no Faust, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
from itertools import chain
from typing import Any

import numpy as np
import orjson

_DTYPES = ("<f8", "<u4", "<u2")


def dumps(data: dict[str, Any]) -> bytes:
    """Serialize a data dict; non-finite floats are refused (JSON cannot hold them).

    >>> dumps({"a": [1, 2.5], "b": None})
    b'{"a":[1,2.5],"b":null}'
    >>> dumps({"a": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: a snapshot can only hold finite numbers
    >>> dumps({"rows": [[0, 1.5, -float("inf")]]})  # inside a list of numbers too
    Traceback (most recent call last):
    ...
    ValueError: a snapshot can only hold finite numbers
    >>> dumps({"rows": [1e308, 1e308, 10]})  # finite numbers summing over the float range
    b'{"rows":[1e+308,1e+308,10]}'
    >>> dumps({"rows": [1.5, 10**400]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: not serializable as data: ...
    """
    _check_finite(data)
    try:
        return orjson.dumps(data, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"not serializable as data: {exc}") from None


_NUMBER_TYPES = frozenset({int, float})


def _check_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a snapshot can only hold finite numbers")
    if isinstance(value, dict):
        for v in value.values():
            _check_finite(v)
    elif isinstance(value, list):
        # A list of plain ints and floats (window rows, buyer columns) at once: a finite sum
        # means every float is finite (an inf or a NaN never sums to a finite number).
        types = set(map(type, value))
        if types == {list}:  # rows of numbers (a champion's window): all rows at once
            numbers = list(chain.from_iterable(value))
            if numbers_finite(numbers):
                return
        elif numbers_finite(value):
            return
        for v in value:
            _check_finite(v)


def numbers_finite(values: list[Any]) -> bool:
    """True when ``values`` are plain ints and floats of a finite sum: then every float is
    finite (an inf or a NaN never sums to a finite number). False: check one by one.

    >>> numbers_finite([1, 2.5]), numbers_finite([1.0, float("nan")]), numbers_finite([True])
    (True, False, False)
    >>> numbers_finite([1.5, 10**400])  # an int too large for a float
    False
    """
    if not _NUMBER_TYPES.issuperset(map(type, values)):
        return False
    try:
        return math.isfinite(sum(values))
    except OverflowError:  # an int too large for a float
        return False


def loads(raw: bytes, *, max_bytes: int) -> dict[str, Any]:
    """Parse snapshot bytes (JSON only; anything else is a ``ValueError``).

    >>> loads(b'{"schema": 1}', max_bytes=100)
    {'schema': 1}
    >>> loads(b"\\x80\\x05K\\x01.", max_bytes=100)  # a pickle is not data
    Traceback (most recent call last):
    ...
    ValueError: snapshot is not JSON
    """
    if len(raw) > max_bytes:
        raise ValueError(f"snapshot of {len(raw)} bytes is over the limit of {max_bytes}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("snapshot is not JSON") from None
    return obj(data, "snapshot")


def header(kind: str, schema: int, **fields: Any) -> dict[str, Any]:
    """The first fields of a component's data: its kind and schema version.

    >>> header("rfm", 1, n=3)
    {'kind': 'rfm', 'schema': 1, 'n': 3}
    """
    return {"kind": kind, "schema": schema, **fields}


def check_header(d: Any, kind: str, schema: int) -> dict[str, Any]:
    """``d`` as a dict after checking it is ``kind`` data of schema version ``schema``.

    >>> check_header({"kind": "rfm", "schema": 2}, "rfm", 1)
    Traceback (most recent call last):
    ...
    ValueError: rfm: schema version 2 is not supported (expected 1)
    """
    d = obj(d, kind)
    if d.get("kind") != kind:
        raise ValueError(f"{kind}: data of kind {d.get('kind')!r}")
    if d.get("schema") != schema:
        raise ValueError(f"{kind}: schema version {d.get('schema')!r} is not supported "
                         f"(expected {schema})")
    return d


def obj(value: Any, path: str) -> dict[str, Any]:
    """A JSON object (dict), else ``ValueError`` naming ``path``.

    >>> obj([], "x")
    Traceback (most recent call last):
    ...
    ValueError: x: expected an object, got list
    """
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def seq(value: Any, path: str, *, max_len: int | None = None) -> list[Any]:
    """A JSON list, at most ``max_len`` long.

    >>> seq([1, 2], "x", max_len=1)
    Traceback (most recent call last):
    ...
    ValueError: x: 2 items, at most 1 allowed
    """
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected a list, got {type(value).__name__}")
    if max_len is not None and len(value) > max_len:
        raise ValueError(f"{path}: {len(value)} items, at most {max_len} allowed")
    return value


def pair(value: Any, path: str) -> tuple[Any, Any]:
    """The two items of a two-item list (checked by the caller).

    >>> pair([3, 0.5], "bin")
    (3, 0.5)
    >>> pair([3], "bin")
    Traceback (most recent call last):
    ...
    ValueError: bin: expected a pair
    """
    items = seq(value, path, max_len=2)
    if len(items) != 2:
        raise ValueError(f"{path}: expected a pair")
    return items[0], items[1]


def num(value: Any, path: str, *, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A finite number in ``[lo, hi]`` (booleans are not numbers here).

    >>> num(3, "x"), num(0.5, "y", lo=0, hi=1)
    (3.0, 0.5)
    >>> num(None, "x")
    Traceback (most recent call last):
    ...
    ValueError: x: expected a finite number, got None
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{path}: expected a finite number, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{path}: {value!r} is outside [{lo}, {hi}]")
    return float(value)


def integer(value: Any, path: str, *, lo: int = 0, hi: int = 2**53) -> int:
    """An integer in ``[lo, hi]``.

    >>> integer(4, "n"), integer(-1, "m", lo=-5)
    (4, -1)
    >>> integer(2.0, "n")
    Traceback (most recent call last):
    ...
    ValueError: n: expected an integer, got 2.0
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{path}: {value!r} is outside [{lo}, {hi}]")
    return value


def text(value: Any, path: str, *, max_len: int = 1024) -> str:
    """A string of at most ``max_len`` characters.

    >>> text("shoes", "category")
    'shoes'
    """
    if not isinstance(value, str) or len(value) > max_len:
        raise ValueError(f"{path}: expected a string of at most {max_len} characters")
    return value


def num_map(value: Any, path: str, *, max_len: int, lo: float = -math.inf,
            hi: float = math.inf) -> dict[str, float]:
    """A string-keyed object of finite numbers, in its stored order.

    >>> num_map({"a": 1, "b": 0.5}, "w", max_len=4)
    {'a': 1.0, 'b': 0.5}
    """
    d = obj(value, path)
    if len(d) > max_len:
        raise ValueError(f"{path}: {len(d)} entries, at most {max_len} allowed")
    return {text(k, path): num(v, f"{path}.{k}", lo=lo, hi=hi) for k, v in d.items()}


def pack(values: Any, dtype: str) -> dict[str, Any]:
    """A numeric array as data: base64 of its little-endian bytes, with dtype and shape.

    >>> block = pack([[1.0, 2.0]], "<f8")
    >>> block["dtype"], block["shape"]
    ('<f8', [1, 2])
    >>> unpack(block, "<f8", ndim=2).tolist()
    [[1.0, 2.0]]
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    array = np.asarray(values, dtype=dtype)
    return {"dtype": dtype, "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode("ascii")}


def unpack(block: Any, dtype: str, *, ndim: int, max_items: int = 1 << 22,
           path: str = "array") -> np.ndarray:
    """The array of a :func:`pack` block, checked: dtype, shape, size and finite values.

    >>> unpack({"dtype": "<f8", "shape": [3], "b64": "AAAA"}, "<f8", ndim=1)
    Traceback (most recent call last):
    ...
    ValueError: array: 3 items of <f8 need 24 bytes, got 3
    """
    d = obj(block, path)
    if d.get("dtype") != dtype:
        raise ValueError(f"{path}: dtype {d.get('dtype')!r}, expected {dtype!r}")
    shape = [integer(n, f"{path}.shape", hi=max_items) for n in seq(d.get("shape"), path,
                                                                    max_len=ndim)]
    if len(shape) != ndim:
        raise ValueError(f"{path}: shape {shape} is not {ndim}-dimensional")
    items = math.prod(shape)
    if items > max_items:
        raise ValueError(f"{path}: {items} items, at most {max_items} allowed")
    try:
        raw = base64.b64decode(text(d.get("b64"), path, max_len=8 * max_items + 8),
                               validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{path}: b64 is not base64") from None
    size = np.dtype(dtype).itemsize * items
    if len(raw) != size:
        raise ValueError(f"{path}: {items} items of {dtype} need {size} bytes, got {len(raw)}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{path}: holds a non-finite number")
    return array
