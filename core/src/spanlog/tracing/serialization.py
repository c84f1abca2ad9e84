"""Turn any value recorded on a span (inputs, outputs, attributes) into JSON text, fast and without raising.

Plain data takes a single orjson call; everything else is converted by the rules in `_convert`, and whatever
still fails goes through a slower pure-Python path (cycle-safe) and finally `repr`, so tracing never breaks
the traced application.
"""

from __future__ import annotations

import datetime
import enum
import math
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import orjson

__all__ = [
    "DEFAULT_MAX_CHARS",
    "dumps",
    "get_max_chars",
    "loads",
    "register_serializer",
    "set_max_chars",
    "to_jsonable",
    "unregister_serializer",
]

DEFAULT_MAX_CHARS = 1_000_000
"""Default limit on the length of the JSON text of one value; override with `SPANLOG_MAX_VALUE_CHARS`."""

_ENV_MAX_CHARS = "SPANLOG_MAX_VALUE_CHARS"
_UNLIMITED_WORDS = frozenset({"none", "unlimited", "off"})
_BASE_OPTION = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_MAX_REPR_CHARS = 1000
_MAX_BYTES_PREVIEW = 1024
# Depth limit of the Python path; orjson stops at 254 levels. One or two Python frames per level.
_MAX_DEPTH = 200
_PLAIN_SCALARS = (str, int, float, bool, type(None))
# Types whose instances (subclasses included) orjson serializes without calling `default`; numpy types
# are recognised by module name. A registration that could apply to such a value forces the Python path,
# where registrations do apply. Dataclasses and datetimes are handled with orjson's passthrough options.
_ORJSON_NATIVE_FAMILIES = (str, int, dict, list, enum.Enum)
# Exact types orjson serializes natively while their subclasses reach `default`.
_ORJSON_NATIVE_EXACT = (tuple, float)

_registry: dict[type, Callable[[Any], Any]] = {}
_option = _BASE_OPTION
_fast_path = True


def _parse_max_chars(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return DEFAULT_MAX_CHARS
    text = raw.strip().lower()
    if text in _UNLIMITED_WORDS:
        return None
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        warnings.warn(
            f"spanlog: ignoring {_ENV_MAX_CHARS}={raw!r}: expected a non-negative integer or 'none'",
            RuntimeWarning,
            stacklevel=2,
        )
        return DEFAULT_MAX_CHARS
    return n


_max_chars: int | None = _parse_max_chars(os.environ.get(_ENV_MAX_CHARS))


# ----------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------


def dumps(value: Any, max_chars: int | None = None) -> str:
    """Serialize `value` to JSON text; never raises, and the result is always valid JSON.

    Non-JSON objects are converted (pydantic models, dataclasses, numpy, datetimes, sets, bytes, ...,
    else their `repr`); cycles become ``"<cycle: TypeName>"``. If the text is longer than `max_chars`
    (default: the module-wide limit, see `set_max_chars`), the result is a JSON string holding the first
    `max_chars` characters of the text followed by ``…[truncated by spanlog: N chars in total]``.
    """
    try:
        if _fast_path:
            text = orjson.dumps(value, default=_default, option=_option).decode()
        else:
            text = _dumps_python(value)
    except Exception:
        text = _dumps_python(value)
    limit = _max_chars if max_chars is None else max_chars
    if limit is not None and len(text) > limit:
        return _truncate(text, limit)
    return text


def to_jsonable(value: Any) -> Any:
    """Return the plain-data form of `value` (dicts with str keys, lists, str, int, float, bool, None).

    This is what ``loads(dumps(value))`` gives, without the size limit. Never raises.
    """
    if _fast_path:
        try:
            return orjson.loads(orjson.dumps(value, default=_default, option=_option))
        except Exception:
            pass
    try:
        return _plain(value, set(), 0)
    except Exception:
        return _safe_repr(value, None)


def loads(text: str | None) -> Any:
    """Parse JSON text (as written by `dumps`); None gives None and invalid JSON is returned unchanged.

    Integers beyond 64 bits come back as floats (orjson behaviour).
    """
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except Exception:
        return text


def register_serializer(type_: type, fn: Callable[[Any], Any]) -> None:
    """Serialize instances of `type_` (and of its subclasses) with ``fn(obj)``.

    `fn` returns something JSON-able; non-JSON objects inside its result are converted in turn. A
    registration takes priority over the built-in conversion rules, never over plain JSON values (exact
    str, int, float, bool, None, dict, list). For a subclass, the registration of the nearest class in its
    MRO wins. If `fn` raises, the built-in rules apply. Registering again for the same type replaces `fn`.
    """
    if not isinstance(type_, type):
        raise TypeError(f"register_serializer: expected a type, got {type_!r}")
    if not callable(fn):
        raise TypeError(f"register_serializer: expected a callable, got {fn!r}")
    _registry[type_] = fn
    _update_options()


def unregister_serializer(type_: type) -> None:
    """Remove the serializer registered for exactly `type_`, if any."""
    _registry.pop(type_, None)
    _update_options()


def set_max_chars(n: int | None) -> None:
    """Set the module-wide limit on the length of the JSON text of one value; None means unlimited."""
    global _max_chars
    if n is not None:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"set_max_chars: expected an int or None, got {n!r}")
        if n < 0:
            raise ValueError(f"set_max_chars: expected a non-negative limit, got {n}")
    _max_chars = n


def get_max_chars() -> int | None:
    """Return the module-wide limit on the length of the JSON text of one value (None: unlimited)."""
    return _max_chars


# ----------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------


def _update_options() -> None:
    global _option, _fast_path
    # Let dataclasses and datetimes reach `_default`, and so the registry, rather than orjson's own support.
    _option = _BASE_OPTION | _PASSTHROUGH if _registry else _BASE_OPTION
    _fast_path = not any(_overlaps_native(t) for t in list(_registry))


def _overlaps_native(t: type) -> bool:
    """Whether a registration for `t` could apply to a value that orjson serializes without `default`."""
    import uuid

    mro = t.__mro__
    families: tuple[type, ...] = (*_ORJSON_NATIVE_FAMILIES, uuid.UUID)
    if any(native in mro or t in native.__mro__ for native in families):
        return True
    if any(t in native.__mro__ for native in _ORJSON_NATIVE_EXACT):
        return True
    for klass in mro:
        module = getattr(klass, "__module__", None) or ""
        if module == "numpy" or module.startswith("numpy."):
            return True
    return False


def _lookup(t: type) -> Callable[[Any], Any] | None:
    registry = _registry
    for klass in t.__mro__:
        fn = registry.get(klass)
        if fn is not None:
            return fn
    return None


# ----------------------------------------------------------------------------------------------------------
# Conversion of one non-JSON object
# ----------------------------------------------------------------------------------------------------------


def _default(obj: Any) -> Any:
    # orjson's `default`: called for objects orjson cannot serialize; orjson serializes the result.
    return _convert(obj)


def _convert(obj: Any) -> Any:
    """One conversion step for a non-JSON object; the result may still contain non-JSON objects."""
    try:
        if _registry:
            fn = _lookup(type(obj))
            if fn is not None:
                try:
                    return fn(obj)
                except Exception:
                    pass
        return _builtin_convert(obj)
    except Exception:
        return _safe_repr(obj)


def _builtin_convert(obj: Any) -> Any:
    t = type(obj)
    if isinstance(obj, type):
        return _safe_repr(obj)
    if isinstance(obj, enum.Enum):
        return obj.value

    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, (np.ndarray, np.generic)):
        return _numpy_convert(obj, np)

    # Subclasses of plain JSON types (orjson handles most of them natively; mirror that here).
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, int):
        return int.__int__(obj)
    if isinstance(obj, float):
        return float.__float__(obj)
    if isinstance(obj, dict):
        return dict(dict.items(obj))
    if isinstance(obj, (list, tuple)):
        return list(obj)

    pydantic_main = sys.modules.get("pydantic.main")
    if pydantic_main is not None and isinstance(obj, getattr(pydantic_main, "BaseModel", ())):
        return _pydantic_dump(obj)
    pydantic_v1_main = sys.modules.get("pydantic.v1.main")
    if pydantic_v1_main is not None and isinstance(obj, getattr(pydantic_v1_main, "BaseModel", ())):
        return obj.dict()  # type: ignore[union-attr]

    if hasattr(t, "__dataclass_fields__"):
        converted = _dataclass_fields(obj)
        if converted is not None:
            return converted

    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, datetime.timedelta):
        return obj.total_seconds()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return _bytes_text(obj)
    if isinstance(obj, (set, frozenset)):
        try:
            return sorted(obj)
        except Exception:
            return list(obj)
    if isinstance(obj, BaseException):
        return _exception_text(obj)
    for module_name, class_name in (("uuid", "UUID"), ("decimal", "Decimal"), ("pathlib", "PurePath")):
        module = sys.modules.get(module_name)
        if module is not None and isinstance(obj, getattr(module, class_name, ())):
            return str(obj)

    # Duck-typed models. Looked up on the type so that objects answering any attribute (mocks) are skipped.
    for method in ("model_dump", "to_dict"):
        if callable(getattr(t, method, None)):
            try:
                return getattr(obj, method)()
            except Exception:
                pass
    if isinstance(obj, Mapping):
        return {_key(k): v for k, v in obj.items()}
    # Everything else, generators and iterators included (never consumed).
    return _safe_repr(obj)


def _numpy_convert(obj: Any, np: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    item = obj.item()
    if isinstance(item, np.generic):  # e.g. longdouble: no lossless Python equivalent
        try:
            return float(item)
        except Exception:
            return _safe_repr(obj)
    return item


def _pydantic_dump(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if dump is None:  # pydantic 1.x
        return obj.dict()
    try:
        return dump(mode="json", warnings=False)
    except Exception:
        # e.g. arbitrary field types pydantic cannot serialize as JSON: let our rules convert them.
        return dump(warnings=False)


def _dataclass_fields(obj: Any) -> dict[str, Any] | None:
    # Shallow, unlike dataclasses.asdict (which deep-copies and fails on unpicklable fields).
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is None:
        return None
    missing = object()
    out: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name, missing)
        if value is not missing:
            out[field.name] = value
    return out


def _bytes_text(obj: bytes | bytearray | memoryview) -> str:
    data = obj.tobytes() if isinstance(obj, memoryview) else obj
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        preview = base64.b64encode(bytes(data[:_MAX_BYTES_PREVIEW])).decode("ascii")
        return f"<bytes: {len(data)} bytes, base64: {preview}>"


def _exception_text(exc: BaseException) -> str:
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:
        return _safe_repr(exc)
    return f"{name}: {message}" if message else name


def _safe_repr(obj: Any, max_chars: int | None = _MAX_REPR_CHARS) -> str:
    try:
        text = repr(obj)
    except Exception:
        return f"<unrepresentable {type(obj).__name__}>"
    if max_chars is not None and len(text) > max_chars:
        return text[: max_chars - 1] + "…"
    return text


def _key(key: Any) -> str:
    """A dict key as a string, written as orjson's OPT_NON_STR_KEYS writes it where it can."""
    t = type(key)
    if t is str:
        return key if key.isascii() else _scrub_surrogates(key)
    if key is None:
        return "null"
    if t is bool:
        return "true" if key else "false"
    if t is int:
        return _int_text(key)
    if t is float:
        return repr(key)
    if isinstance(key, (datetime.date, datetime.time)):
        return key.isoformat()
    converted = _convert(key)  # enums, subclasses of str/int/float, numpy scalars, UUID, ...
    if type(converted) in _PLAIN_SCALARS:
        return _key(converted)
    return _safe_repr(key)


def _int_text(n: int) -> str:
    try:
        return str(n)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return f"<int with {n.bit_length()} bits>"


# ----------------------------------------------------------------------------------------------------------
# Python path: full conversion to plain data, with cycle detection
# ----------------------------------------------------------------------------------------------------------


def _plain(obj: Any, active: set[int], depth: int) -> Any:
    """Convert `obj` recursively to plain JSON data; `active` holds the ids of the containers being walked."""
    t = type(obj)
    if t is str:
        return obj if obj.isascii() else _scrub_surrogates(obj)
    if t is bool or obj is None:
        return obj
    if t is int:
        if obj.bit_length() <= 64:
            return obj
        text = _int_text(obj)
        return obj if text[0] != "<" else text
    if t is float:
        return obj if math.isfinite(obj) else None
    if depth >= _MAX_DEPTH:
        return f"<max depth exceeded: {t.__name__}>"
    oid = id(obj)
    if oid in active:
        return f"<cycle: {t.__name__}>"
    active.add(oid)
    try:
        depth += 1
        if t is dict:
            out: dict[str, Any] = {}
            for k, v in obj.items():
                out[_key(k)] = _plain(v, active, depth)
            return out
        if t is list:
            items = []
            for v in obj:
                items.append(_plain(v, active, depth))
            return items
        return _plain(_convert(obj), active, depth)
    finally:
        active.discard(oid)


def _dumps_python(value: Any) -> str:
    try:
        data = _plain(value, set(), 0)
        try:
            return orjson.dumps(data).decode()
        except Exception:  # ints beyond 64 bits, lone surrogates
            pass
        import json

        return _scrub_surrogates(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")))
    except Exception:
        return _json_string(_safe_repr(value, None))


def _scrub_surrogates(text: str) -> str:
    # Lone surrogates cannot be encoded as UTF-8 by exporters; they only occur inside JSON strings.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _json_string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except Exception:
        import json

        return json.dumps(_scrub_surrogates(str.__str__(text)), ensure_ascii=False)


def _truncate(text: str, limit: int) -> str:
    limit = max(limit, 0)
    return _json_string(f"{text[:limit]}…[truncated by spanlog: {len(text)} chars in total]")
