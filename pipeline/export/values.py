"""Database values as JSON-native Python and as Hugging Face ``datasets`` features.

Example::

    plain(Decimal("1.5"))          # 1.5
    hf_feature("_text")            # Sequence(Value("string")) on datasets 3.x, List(...) on 4+
    hf_value({"a": 1}, "jsonb")    # '{"a": 1}'
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from typing import Any

import numpy as np

_HF_SCALARS = {
    "bool": "bool",
    "int2": "int16",
    "int4": "int32",
    "int8": "int64",
    "float4": "float32",
    "float8": "float64",
    "numeric": "float64",
}


def plain(value: Any) -> Any:
    """``value`` as JSON-native Python (Decimal, numpy, datetime, bytes, NaN handled)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, decimal.Decimal):
        return plain(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)  # uuid, Path, ranges, inet, ...


def hf_list(feature):
    """A list feature: ``datasets.List`` (4.x) or ``datasets.Sequence`` (3.x, which this project pins)."""
    import datasets

    list_type = getattr(datasets, "List", None) or datasets.Sequence
    return list_type(feature)


def hf_feature(udt: str):
    """The ``datasets`` feature for a Postgres column type (``udt_name``: int4, _text, jsonb, ...)."""
    from datasets import Value

    if udt.startswith("_"):
        return hf_list(hf_feature(udt[1:]))
    return Value(_HF_SCALARS.get(udt, "string"))  # text, json (as a JSON string), timestamps (ISO), ...


def hf_value(value: Any, udt: str) -> Any:
    if value is None:
        return None
    if udt.startswith("_"):
        return [hf_value(v, udt[1:]) for v in value]
    if udt in ("json", "jsonb"):
        return json.dumps(plain(value), ensure_ascii=False, sort_keys=True)
    converted = plain(value)
    if udt in _HF_SCALARS or converted is None:
        return converted
    return converted if isinstance(converted, str) else json.dumps(converted, ensure_ascii=False)
