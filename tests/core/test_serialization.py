"""Tests of spanlog.tracing.serialization: JSON text for any span value, fast and without raising."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import types
import uuid
from collections import OrderedDict, namedtuple
from collections.abc import Iterator, Mapping

import numpy as np
import pydantic
import pytest

from spanlog.tracing import serialization
from spanlog.tracing.serialization import (
    dumps,
    loads,
    register_serializer,
    set_max_chars,
    to_jsonable,
    unregister_serializer,
)

TRUNCATION_MARKER = "…[truncated by spanlog: "


def roundtrip(value):
    """dumps `value`, check the text is valid JSON for the stdlib parser, and return the parsed data."""
    text = dumps(value)
    assert isinstance(text, str)
    data = json.loads(text)
    assert loads(text) == data
    return data


@pytest.fixture(autouse=True)
def _restore_module_state():
    limit = serialization.get_max_chars()
    registered = dict(serialization._registry)
    try:
        yield
    finally:
        set_max_chars(limit)
        for type_ in list(serialization._registry):
            if type_ not in registered:
                unregister_serializer(type_)
        assert serialization._fast_path


@pytest.fixture
def register():
    """Register serializers for one test only."""
    types_: list[type] = []

    def _register(type_, fn):
        types_.append(type_)
        register_serializer(type_, fn)

    try:
        yield _register
    finally:
        for type_ in types_:
            unregister_serializer(type_)


# --------------------------------------------------------------------------------------------------------
# Plain JSON
# --------------------------------------------------------------------------------------------------------


def test_plain_data_is_compact_json():
    value = {"x": 1, "y": "hello", "z": [1, 2.5, True, None], "é": "ü"}
    assert dumps(value) == '{"x":1,"y":"hello","z":[1,2.5,true,null],"é":"ü"}'
    assert roundtrip(value) == value
    assert to_jsonable(value) == value


def test_scalars():
    assert dumps(None) == "null"
    assert dumps(True) == "true"
    assert dumps(3) == "3"
    assert dumps('a"b') == '"a\\"b"'


def test_nan_and_infinity_become_null():
    assert roundtrip([float("nan"), float("inf"), -float("inf"), 1.0]) == [None, None, None, 1.0]


def test_non_str_dict_keys():
    value = {7: "int", 2.5: "float", None: "none", True: "bool", datetime.date(2024, 1, 2): "date"}
    assert roundtrip(value) == {
        "7": "int",
        "2.5": "float",
        "null": "none",
        "true": "bool",
        "2024-01-02": "date",
    }
    # The Python path (taken here because of the big int) writes keys the same way.
    value[2**70] = "big"
    assert roundtrip(value) == {
        "7": "int",
        "2.5": "float",
        "null": "none",
        "true": "bool",
        "2024-01-02": "date",
        str(2**70): "big",
    }


def test_tuple_dict_keys_use_repr():
    assert roundtrip({(1, 2): "a", "b": 2}) == {"(1, 2)": "a", "b": 2}


def test_int_too_large_for_orjson():
    assert json.loads(dumps(2**70)) == 2**70
    assert json.loads(dumps({"big": 2**70, "small": -(2**65), "s": "x"})) == {
        "big": 2**70,
        "small": -(2**65),
        "s": "x",
    }
    assert to_jsonable([2**70]) == [2**70]


def test_int_beyond_str_conversion_limit():
    assert roundtrip([10**5000]) == [f"<int with {(10**5000).bit_length()} bits>"]


def test_lone_surrogate_is_replaced_and_output_is_utf8():
    text = dumps({"k\ud800": "v\udfff"})
    text.encode("utf-8")
    assert json.loads(text) == {"k?": "v?"}


# --------------------------------------------------------------------------------------------------------
# One test per kind of non-JSON input
# --------------------------------------------------------------------------------------------------------


class User(pydantic.BaseModel):
    name: str
    joined: datetime.date
    tags: set[str] = set()


def test_pydantic_v2_model_uses_json_mode():
    user = User(name="ann", joined=datetime.date(2024, 1, 2), tags={"b"})
    assert roundtrip(user) == {"name": "ann", "joined": "2024-01-02", "tags": ["b"]}
    assert roundtrip([user]) == [{"name": "ann", "joined": "2024-01-02", "tags": ["b"]}]


def test_pydantic_model_with_arbitrary_field_types():
    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        arr: np.ndarray

    assert roundtrip(Holder(arr=np.array([1, 2]))) == {"arr": [1, 2]}


def test_pydantic_v1_model_uses_dict():
    from pydantic import v1

    class Old(v1.BaseModel):
        a: int
        b: str

    assert roundtrip(Old(a=1, b="x")) == {"a": 1, "b": "x"}


def test_object_with_legacy_dict_method_is_not_called():
    class HasDict:
        def dict(self):  # not a pydantic model: only pydantic models get `.dict()` called
            raise AssertionError("must not be called")

        def __repr__(self):
            return "HasDict()"

    assert roundtrip(HasDict()) == "HasDict()"


@dataclasses.dataclass
class Point:
    x: int
    y: float
    label: str = "p"


def test_dataclass():
    assert roundtrip(Point(1, 2.5)) == {"x": 1, "y": 2.5, "label": "p"}


def test_dataclass_with_unpicklable_field_is_converted_shallowly():
    @dataclasses.dataclass
    class WithGenerator:
        name: str
        gen: Iterator[int]
        when: datetime.datetime

    gen = (i for i in range(3))
    data = roundtrip(WithGenerator("a", gen, datetime.datetime(2024, 1, 2, 3, 4, 5)))
    assert data["name"] == "a"
    assert data["gen"].startswith("<generator object")
    assert data["when"] == "2024-01-02T03:04:05"
    assert next(gen) == 0  # not consumed


def test_numpy_contiguous_array():
    assert roundtrip(np.arange(6, dtype=np.int64).reshape(2, 3)) == [[0, 1, 2], [3, 4, 5]]
    assert roundtrip(np.array([0.5, 1.5], dtype=np.float32)) == [0.5, 1.5]


def test_numpy_non_contiguous_array():
    arr = np.arange(6).reshape(2, 3).T
    assert not arr.flags["C_CONTIGUOUS"]
    assert roundtrip(arr) == [[0, 3], [1, 4], [2, 5]]


def test_numpy_object_array():
    assert roundtrip(np.array([1, "a", None, {2}], dtype=object)) == [1, "a", None, [2]]


def test_numpy_scalars():
    assert roundtrip(
        [np.float32(1.5), np.float64(0.25), np.int8(-3), np.uint64(7), np.bool_(True), np.str_("s")]
    ) == [1.5, 0.25, -3, 7, True, "s"]
    assert roundtrip(np.longdouble(1.5)) == 1.5


def test_datetime_date_time():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    value = [
        datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=tz),
        datetime.date(2024, 1, 2),
        datetime.time(3, 4, 5),
    ]
    assert roundtrip(value) == ["2024-01-02T03:04:05.123456+02:00", "2024-01-02", "03:04:05"]


def test_aware_time():
    # orjson refuses a time with tzinfo: the Python path writes isoformat().
    assert roundtrip(datetime.time(3, 4, tzinfo=datetime.timezone.utc)) == "03:04:00+00:00"


def test_timedelta_is_total_seconds():
    assert roundtrip(datetime.timedelta(minutes=1, milliseconds=500)) == 60.5


def test_uuid_decimal_path():
    value = [
        uuid.UUID(int=1),
        decimal.Decimal("1.10"),
        pathlib.Path("/tmp/a.txt"),
        pathlib.PurePosixPath("b"),
    ]
    assert roundtrip(value) == ["00000000-0000-0000-0000-000000000001", "1.10", "/tmp/a.txt", "b"]


def test_utf8_bytes():
    assert roundtrip([b"hello", bytearray("é".encode()), memoryview(b"mv")]) == ["hello", "é", "mv"]


def test_non_utf8_bytes():
    assert roundtrip(b"\xff\x00\x01") == "<bytes: 3 bytes, base64: /wAB>"


def test_non_utf8_bytes_preview_is_limited_to_1_kib():
    data = b"\xff" * 5000
    text = roundtrip(data)
    assert text.startswith("<bytes: 5000 bytes, base64: ")
    preview = text[len("<bytes: 5000 bytes, base64: ") : -1]
    import base64

    assert base64.b64decode(preview) == b"\xff" * 1024


def test_sets_are_sorted_lists():
    assert roundtrip({3, 1, 2}) == [1, 2, 3]
    assert roundtrip(frozenset({"b", "a"})) == ["a", "b"]


def test_unsortable_set_becomes_list():
    data = roundtrip({1, "a"})
    assert sorted(data, key=str) == [1, "a"]


def test_tuples_and_namedtuples_are_lists():
    pair = namedtuple("pair", "a b")
    assert roundtrip((1, (2, 3))) == [1, [2, 3]]
    assert roundtrip(pair(1, "x")) == [1, "x"]


class Color(enum.Enum):
    RED = "red"
    POINT = Point(0, 0.0)


class Level(enum.IntEnum):
    HIGH = 3


def test_enums_are_their_values():
    assert roundtrip([Color.RED, Level.HIGH]) == ["red", 3]
    assert roundtrip(Color.POINT) == {"x": 0, "y": 0.0, "label": "p"}
    assert roundtrip({Color.RED: 1}) == {"red": 1}


def test_generators_and_iterators_are_not_consumed():
    gen = (i for i in range(3))
    it = iter([1, 2])
    data = roundtrip({"gen": gen, "it": it})
    assert data["gen"].startswith("<generator object")
    assert data["it"].startswith("<list_iterator object")
    assert list(gen) == [0, 1, 2]
    assert list(it) == [1, 2]


def test_objects_with_to_dict_or_model_dump():
    class ToDict:
        def to_dict(self):
            return {"kind": "to_dict", "when": datetime.date(2024, 1, 2)}

    class ModelDump:
        def model_dump(self):
            return {"kind": "model_dump", "items": (1, 2)}

    assert roundtrip(ToDict()) == {"kind": "to_dict", "when": "2024-01-02"}
    assert roundtrip(ModelDump()) == {"kind": "model_dump", "items": [1, 2]}


def test_failing_to_dict_falls_back_to_repr():
    class Broken:
        def to_dict(self):
            raise RuntimeError("nope")

        def __repr__(self):
            return "Broken()"

    assert roundtrip(Broken()) == "Broken()"


def test_mock_objects_are_repr():
    from unittest import mock

    data = roundtrip({"m": mock.Mock()})
    assert data["m"].startswith("<Mock id=")


def test_mappings():
    class Frozen(Mapping):
        def __init__(self, data):
            self._data = data

        def __getitem__(self, key):
            return self._data[key]

        def __iter__(self):
            return iter(self._data)

        def __len__(self):
            return len(self._data)

    assert roundtrip(Frozen({1: "a", "b": {2}})) == {"1": "a", "b": [2]}
    assert roundtrip(types.MappingProxyType({"k": 1})) == {"k": 1}
    assert roundtrip(OrderedDict([("b", 1), ("a", 2)])) == {"b": 1, "a": 2}


def test_exceptions():
    assert roundtrip(ValueError("bad value")) == "ValueError: bad value"
    assert roundtrip(KeyError("k")) == "KeyError: 'k'"
    assert roundtrip(RuntimeError()) == "RuntimeError"


def test_subclasses_of_plain_types():
    class MyStr(str):
        pass

    class MyFloat(float):
        pass

    class MyList(list):
        pass

    assert roundtrip([MyStr("s"), MyFloat(1.5), MyList([1])]) == ["s", 1.5, [1]]


def test_other_objects_are_repr():
    class Thing:
        def __repr__(self):
            return "<Thing>"

    assert roundtrip(Thing()) == "<Thing>"
    assert roundtrip(int) == "<class 'int'>"


def test_long_repr_is_truncated_to_1000_chars():
    class Long:
        def __repr__(self):
            return "r" * 5000

    text = roundtrip(Long())
    assert len(text) == 1000
    assert text == "r" * 999 + "…"


def test_repr_that_raises():
    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no repr")

    assert roundtrip(BadRepr()) == "<unrepresentable BadRepr>"
    assert roundtrip({"a": [BadRepr()]}) == {"a": ["<unrepresentable BadRepr>"]}


def test_repr_that_raises_in_final_fallback(monkeypatch):
    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no repr")

    def boom(value, active, depth):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(serialization, "_plain", boom)
    assert roundtrip([2**70, "x"]) == "[1180591620717411303424, 'x']"  # JSON string of repr(value)
    assert roundtrip([2**70, BadRepr()]) == "<unrepresentable list>"


# --------------------------------------------------------------------------------------------------------
# Cycles and depth
# --------------------------------------------------------------------------------------------------------


def test_cycle_in_dict():
    value: dict = {"a": 1}
    value["self"] = value
    assert roundtrip(value) == {"a": 1, "self": "<cycle: dict>"}
    assert to_jsonable(value) == {"a": 1, "self": "<cycle: dict>"}


def test_cycle_in_list():
    value: list = [1]
    value.append(value)
    value.append({"back": value})
    assert roundtrip(value) == [1, "<cycle: list>", {"back": "<cycle: list>"}]


def test_cycle_through_dataclass():
    @dataclasses.dataclass
    class Node:
        name: str
        parent: object = None

    node = Node("root")
    node.parent = node
    assert roundtrip(node) == {"name": "root", "parent": "<cycle: Node>"}


def test_shared_references_are_not_cycles():
    shared = [1, 2]
    value: dict = {"a": shared, "b": shared, "c": 2**70}  # the big int forces the Python path
    assert roundtrip(value) == {"a": [1, 2], "b": [1, 2], "c": 2**70}


def test_very_deep_nesting_is_cut():
    value: list = []
    current = value
    for _ in range(1000):
        child: list = []
        current.append(child)
        current = child
    data = roundtrip(value)
    depth = 0
    while isinstance(data, list):
        data = data[0]
        depth += 1
    assert data == "<max depth exceeded: list>"
    assert depth == serialization._MAX_DEPTH


# --------------------------------------------------------------------------------------------------------
# Size limit
# --------------------------------------------------------------------------------------------------------


def test_default_limit_is_one_million():
    assert serialization.DEFAULT_MAX_CHARS == 1_000_000
    assert serialization._parse_max_chars(None) == 1_000_000


def test_huge_string_is_truncated_to_valid_json():
    text = dumps("a" * 2_000_000)
    content = json.loads(text)
    assert isinstance(content, str)
    assert content == '"' + "a" * 999_999 + "…[truncated by spanlog: 2000002 chars in total]"


def test_huge_structure_is_truncated_to_a_json_string():
    value = {"items": list(range(300_000))}
    full = json.dumps(value, separators=(",", ":"))
    content = json.loads(dumps(value))
    assert content == full[:1_000_000] + f"…[truncated by spanlog: {len(full)} chars in total]"


def test_max_chars_argument():
    assert dumps("hello", max_chars=100) == '"hello"'
    assert dumps("hello", max_chars=7) == '"hello"'
    text = dumps("hello", max_chars=3)
    assert json.loads(text) == '"he' + "…[truncated by spanlog: 7 chars in total]"
    assert json.loads(dumps({"k": "v"}, max_chars=0)) == "…[truncated by spanlog: 9 chars in total]"


def test_set_max_chars():
    set_max_chars(5)
    assert serialization.get_max_chars() == 5
    assert json.loads(dumps([1, 2, 3])) == "[1,2,…[truncated by spanlog: 7 chars in total]"
    assert dumps([1, 2], max_chars=100) == "[1,2]"  # the argument wins
    set_max_chars(None)
    assert dumps("x" * 3_000_000) == '"' + "x" * 3_000_000 + '"'


def test_set_max_chars_rejects_bad_values():
    set_max_chars(123)
    with pytest.raises(ValueError):
        set_max_chars(-1)
    with pytest.raises(TypeError):
        set_max_chars("10")  # type: ignore[arg-type]
    assert serialization.get_max_chars() == 123


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", 1_000_000), ("500", 500), (" 0 ", 0), ("none", None), ("Unlimited", None), ("2_000", 2000)],
)
def test_env_variable_parsing(raw, expected):
    assert serialization._parse_max_chars(raw) == expected


def test_invalid_env_variable_warns_and_keeps_default():
    with pytest.warns(RuntimeWarning, match="SPANLOG_MAX_VALUE_CHARS"):
        assert serialization._parse_max_chars("lots") == 1_000_000
    with pytest.warns(RuntimeWarning):
        assert serialization._parse_max_chars("-5") == 1_000_000


# --------------------------------------------------------------------------------------------------------
# register_serializer
# --------------------------------------------------------------------------------------------------------


class Animal:
    def __init__(self, name):
        self.name = name


class Dog(Animal):
    pass


def test_registered_serializer_for_base_class_applies_to_subclass(register):
    register(Animal, lambda a: {"animal": a.name, "kind": type(a).__name__})
    assert roundtrip(Dog("rex")) == {"animal": "rex", "kind": "Dog"}
    assert roundtrip([Animal("generic")]) == [{"animal": "generic", "kind": "Animal"}]
    assert serialization._fast_path


def test_nearest_registration_in_mro_wins(register):
    register(Animal, lambda a: "animal")
    register(Dog, lambda d: "dog")
    assert roundtrip([Animal("a"), Dog("d")]) == ["animal", "dog"]


def test_registered_serializer_result_is_converted_recursively(register):
    register(Animal, lambda a: {"name": a.name, "tags": {"b", "a"}, "born": datetime.date(2020, 5, 6)})
    assert roundtrip(Dog("rex")) == {"name": "rex", "tags": ["a", "b"], "born": "2020-05-06"}


def test_raising_registered_serializer_falls_back(register):
    def broken(obj):
        raise RuntimeError("serializer bug")

    register(Point, broken)
    register(Animal, broken)
    assert roundtrip(Point(1, 2.0)) == {"x": 1, "y": 2.0, "label": "p"}
    data = roundtrip(Dog("rex"))
    assert data.startswith("<") and ".Dog object at 0x" in data and data.endswith(">")


def test_registration_overrides_builtin_rules(register):
    register(Point, lambda p: f"P({p.x}, {p.y})")  # orjson serializes dataclasses natively
    register(datetime.date, lambda d: d.year)  # ... and dates
    register(Color, lambda c: c.name)  # ... and enums (forces the Python path)
    assert roundtrip([Point(1, 2.0), datetime.date(2024, 1, 2), Color.RED]) == ["P(1, 2.0)", 2024, "RED"]
    assert not serialization._fast_path
    assert roundtrip({"plain": [1, "a", None]}) == {"plain": [1, "a", None]}


def test_registration_never_applies_to_plain_json(register):
    register(object, lambda o: "registered")
    assert not serialization._fast_path
    assert roundtrip({"a": [1, 2.5, "s", True, None]}) == {"a": [1, 2.5, "s", True, None]}
    assert roundtrip((1, 2)) == "registered"


def test_registration_for_numpy_type(register):
    register(np.ndarray, lambda a: {"shape": list(a.shape)})
    assert roundtrip(np.zeros((2, 3))) == {"shape": [2, 3]}


def test_unregister_restores_builtin_rules():
    register_serializer(Point, lambda p: "registered")
    assert roundtrip(Point(1, 2.0)) == "registered"
    unregister_serializer(Point)
    assert roundtrip(Point(1, 2.0)) == {"x": 1, "y": 2.0, "label": "p"}
    assert serialization._option == serialization._BASE_OPTION


def test_register_serializer_rejects_bad_arguments():
    with pytest.raises(TypeError):
        register_serializer("Point", str)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        register_serializer(Point, "not callable")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------
# Mixed values, to_jsonable and loads
# --------------------------------------------------------------------------------------------------------


class Embedding(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    vector: np.ndarray
    labels: set[str]


@dataclasses.dataclass
class Retrieval:
    query: str
    hit: Embedding
    score: np.float32


def test_nested_mix():
    value = Retrieval(
        query="q",
        hit=Embedding(vector=np.array([[0.5, 1.0], [2.0, 3.5]]).T, labels={"z", "a"}),
        score=np.float32(0.75),
    )
    expected = {
        "query": "q",
        "hit": {"vector": [[0.5, 2.0], [1.0, 3.5]], "labels": ["a", "z"]},
        "score": 0.75,
    }
    assert roundtrip(value) == expected
    assert to_jsonable(value) == expected
    assert to_jsonable({"r": [value], "c": value}) == {"r": [expected], "c": expected}


def test_to_jsonable_is_not_truncated():
    set_max_chars(10)
    assert to_jsonable({"s": "x" * 100, "t": (1, 2)}) == {"s": "x" * 100, "t": [1, 2]}


def test_to_jsonable_never_raises(monkeypatch):
    class BadRepr:
        def __repr__(self):
            raise RuntimeError

    monkeypatch.setattr(serialization, "_plain", lambda *args: 1 / 0)
    assert to_jsonable([2**70, "x"]) == "[1180591620717411303424, 'x']"
    assert to_jsonable([2**70, BadRepr()]) == "<unrepresentable list>"


def test_loads():
    assert loads(None) is None
    assert loads('{"a":[1,2.5,null,"é"]}') == {"a": [1, 2.5, None, "é"]}
    assert loads("not json") == "not json"
    assert loads("") == ""
    assert loads('"text"') == "text"
