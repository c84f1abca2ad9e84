"""The search language of ``search_traces``: filter strings and ``order_by`` items.

A filter string is parsed once into a small AST (frozen dataclasses: :class:`Compare`, :class:`InList`,
:class:`And`, :class:`Or`, :class:`Not`), which is then either compiled to a parameterized SQLAlchemy Core
WHERE clause over ``schema.traces`` (:func:`compile_filter`) or evaluated in Python against a
:class:`~spanlog.entities.trace.Trace` (:func:`evaluate`, the reference semantics the SQL must agree with).
Values and keys only ever reach SQL as bound parameters.

Grammar (keywords, prefixes and field names are case-insensitive; keys and values are case-sensitive)::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" or_expr ")" | condition
    condition  := field comparator value
                | field ["NOT"] "IN" "(" value ("," value)* ")"
                | field ["NOT"] ("LIKE" | "ILIKE") string
    comparator := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    field      := ["attributes." | "trace."] attribute
                | ("tags." | "tag.") key | ("metadata." | "request_metadata.") key
                | "span." ("name" | "type" | "span_type" | "status" | "inputs" | "outputs")
                | "span.attributes." key
    key        := bare-key | `backticked key` | "double-quoted key"
    bare-key   := [A-Za-z0-9_-]+ ("." [A-Za-z0-9_-]+)*      (so ``tags.a.b`` is the key ``a.b``)
    value      := 'string' | "string" | number          (number: -?digits[.digits][e[+-]digits], 64-bit ints)

Fields and the comparators they take (any other comparator, or a value of the wrong type, is an error)::

    status (OK, ERROR, IN_PROGRESS; any case)        = != IN, NOT IN
    span.status (OK, ERROR, UNSET; any case)         = != IN, NOT IN
    timestamp_ms (alias timestamp), execution_time_ms, input_tokens, output_tokens, total_tokens
                                                     = != < <= > >= IN, NOT IN         numbers
    name (the root span's name), run_id, request_id (alias trace_id), tags.<key>, metadata.<key>,
    span.name, span.type
                                                     = != IN, NOT IN, [NOT] LIKE, [NOT] ILIKE   strings
    span.inputs, span.outputs (their JSON text)      = != [NOT] LIKE, [NOT] ILIKE     strings
    span.attributes.<key>                            as for name with a string, as for timestamp_ms with
                                                     a number

Semantics:

* Logic is two-valued: a condition on a missing value (NULL column, absent tag or metadata key, span attribute
  absent or of the other type) is simply false, for ``!=``, ``NOT IN`` and ``NOT LIKE`` too; ``NOT`` then
  makes it true. So ``tags.env != 'prod'`` needs the tag, while ``NOT tags.env = 'prod'`` also matches traces
  without it. (The SQL guards nullable columns with ``IS NOT NULL`` so that it never yields NULL.)
* A ``span.`` condition holds when at least one span of the trace satisfies it; each span condition is
  checked on its own (``span.name = 'a' AND span.type = 'LLM'`` may be satisfied by two different spans).
* ``span.attributes.<key>`` compares the decoded attribute value: a string literal only matches JSON strings
  (as text), a number only JSON numbers (numerically; booleans, null, lists and objects never match).
  Spanlog's reserved attributes (``spanlog.spanType``, inputs, outputs, ...) are not there: use ``span.type``,
  ``span.inputs``, ``span.outputs``. SQL: ``json_each`` on SQLite (its JSON paths cannot spell every key),
  ``CAST(attributes AS JSONB) ->> key`` guarded by ``jsonb_typeof`` on PostgreSQL.
* ``LIKE`` is case-sensitive and ``ILIKE`` case-insensitive on every backend; only ASCII letters are folded
  reliably (SQLite and :func:`evaluate` fold ASCII only, PostgreSQL all of Unicode). In patterns ``%``
  matches any run of characters, ``_`` one character, and a backslash makes the next character literal; a
  pattern may not end in a lone backslash. SQL: ``LIKE ... ESCAPE '\\'`` on PostgreSQL; on SQLite, whose LIKE
  ignores case, ``GLOB`` with the pattern translated (``*``, ``?``, ``[*]``...), and ``lower(x) LIKE lower(p)``
  for ILIKE.
* String literals take ``''`` (``""`` in double quotes) and the backslash escapes ``\\'``, ``\\"``,
  ``\\\\`` and a backslash before a backtick; any other backslash is kept, so ``'100\\%'`` is the LIKE pattern
  of the text ``100%``. Quoted keys follow the same rules.
* ``<``/``>`` are only offered on numbers, so string order (which depends on collations) never filters.

Ordering (:func:`parse_order_by`, :func:`compile_order_by`): on trace attributes only; NULL is the
smallest value (``NULLS FIRST`` ascending, ``NULLS LAST`` descending, written explicitly for nullable
columns) and ``status``, ``name``, ``run_id`` sort by code point on every backend (``COLLATE "C"`` on
PostgreSQL; request ids are ASCII and keep their index-friendly default collation). The default order is
``timestamp_ms DESC``, and ``request_id`` is appended as the tie-breaker (in the direction of the last term,
unless already ordered on), which makes the order total and allows keyset pagination
(:func:`keyset_condition`, :func:`order_values`). :func:`sort_traces` is the Python reference ordering.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Union

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.types import TypeEngine

from spanlog.entities.span import Span, SpanAttributeKey
from spanlog.entities.trace import Trace
from spanlog.exceptions import InvalidFilterError
from spanlog.store import schema

__all__ = [
    "And",
    "Compare",
    "Field",
    "FilterSyntaxError",
    "InList",
    "Node",
    "Not",
    "Or",
    "OrderTerm",
    "compile_filter",
    "compile_order_by",
    "effective_order",
    "evaluate",
    "format_filter",
    "keyset_condition",
    "order_values",
    "parse_filter",
    "parse_order_by",
    "sort_traces",
    "trace_attribute",
]

Value = Union[str, int, float]
"""A literal of the filter language."""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# ----------------------------------------------------------------------------------------------------------
# Fields
# ----------------------------------------------------------------------------------------------------------

_EQ_OPS = ("=", "!=", "IN", "NOT IN")
_ORDER_OPS = ("<", "<=", ">", ">=")
_LIKE_OPS = ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE")
_NUMBER_OPS = frozenset(_EQ_OPS + _ORDER_OPS)
_STRING_OPS = frozenset(_EQ_OPS + _LIKE_OPS)
_ENUM_OPS = frozenset(_EQ_OPS)
_JSON_TEXT_OPS = frozenset(("=", "!=", *_LIKE_OPS))
_SPAN_ATTRIBUTE_OPS = _NUMBER_OPS | _STRING_OPS


@dataclass(frozen=True)
class _Attribute:
    """A searchable trace attribute (its name is also its ``traces`` column): the values and comparators it
    takes."""

    numeric: bool
    nullable: bool
    ops: frozenset[str]
    allowed: tuple[str, ...] = ()  # the only valid values (compared case-insensitively, stored upper case)


_TRACE_STATUSES = ("OK", "ERROR", "IN_PROGRESS")
_SPAN_STATUSES = ("OK", "ERROR", "UNSET")

_ATTRIBUTES: dict[str, _Attribute] = {
    "status": _Attribute(numeric=False, nullable=False, ops=_ENUM_OPS, allowed=_TRACE_STATUSES),
    "timestamp_ms": _Attribute(numeric=True, nullable=False, ops=_NUMBER_OPS),
    "execution_time_ms": _Attribute(numeric=True, nullable=True, ops=_NUMBER_OPS),
    "name": _Attribute(numeric=False, nullable=True, ops=_STRING_OPS),
    "run_id": _Attribute(numeric=False, nullable=True, ops=_STRING_OPS),
    "request_id": _Attribute(numeric=False, nullable=False, ops=_STRING_OPS),
    "input_tokens": _Attribute(numeric=True, nullable=True, ops=_NUMBER_OPS),
    "output_tokens": _Attribute(numeric=True, nullable=True, ops=_NUMBER_OPS),
    "total_tokens": _Attribute(numeric=True, nullable=True, ops=_NUMBER_OPS),
}
_ATTRIBUTE_ALIASES = {"timestamp": "timestamp_ms", "trace_id": "request_id"}

# span.<sub-field> -> (spans column, comparators, the only valid values if restricted)
_SPAN_FIELDS: dict[str, tuple[str, frozenset[str], tuple[str, ...]]] = {
    "name": ("name", _STRING_OPS, ()),
    "type": ("span_type", _STRING_OPS, ()),
    "status": ("status_code", _ENUM_OPS, _SPAN_STATUSES),
    "inputs": ("inputs", _JSON_TEXT_OPS, ()),
    "outputs": ("outputs", _JSON_TEXT_OPS, ()),
}
_SPAN_ALIASES = {"span_type": "type"}

_TAG_PREFIXES = {"tags": "tag", "tag": "tag", "metadata": "metadata", "request_metadata": "metadata"}
_ATTRIBUTE_PREFIXES = ("attributes", "trace")

# Where evaluate() finds attributes that TraceInfo has no field for.
_RUN_ID_METADATA = "spanlog.sourceRun"
_TOKEN_METADATA = {
    "input_tokens": "spanlog.inputTokens",
    "output_tokens": "spanlog.outputTokens",
    "total_tokens": "spanlog.totalTokens",
}

FieldKind = Literal["attribute", "tag", "metadata", "span"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\Z")


@dataclass(frozen=True)
class Field:
    """What a condition looks at.

    ``kind`` ``"attribute"``: ``name`` is the canonical attribute (``timestamp_ms``, ...). ``"tag"`` /
    ``"metadata"``: ``key`` is the tag or metadata key. ``"span"``: ``name`` is ``name``, ``type``, ``status``,
    ``inputs``, ``outputs`` or ``attributes`` (then ``key`` is the span attribute key).
    """

    kind: FieldKind
    name: str = ""
    key: str | None = None

    def __str__(self) -> str:
        if self.kind == "attribute":
            return f"attributes.{self.name}"
        if self.kind in ("tag", "metadata"):
            return f"{'tags' if self.kind == 'tag' else 'metadata'}.{_format_key(self.key or '')}"
        if self.name == "attributes":
            return f"span.attributes.{_format_key(self.key or '')}"
        return f"span.{self.name}"


def _format_key(key: str) -> str:
    if _BARE_KEY.match(key):
        return key
    return "`" + key.replace("\\", "\\\\").replace("`", "``") + "`"


# ----------------------------------------------------------------------------------------------------------
# AST
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``op`` is one of ``= != < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE``."""

    field: Field
    op: str
    value: Value

    def __str__(self) -> str:
        return f"{self.field} {self.op} {_format_value(self.value)}"


@dataclass(frozen=True)
class InList:
    """``field IN (values)``, or ``field NOT IN (values)`` when ``negated``; ``values`` is never empty."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False

    def __str__(self) -> str:
        items = ", ".join(_format_value(v) for v in self.values)
        return f"{self.field} {'NOT IN' if self.negated else 'IN'} ({items})"


@dataclass(frozen=True)
class And:
    """All of ``items`` (at least two)."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(_format_operand(item) for item in self.items)


@dataclass(frozen=True)
class Or:
    """Any of ``items`` (at least two)."""

    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(_format_operand(item) for item in self.items)


@dataclass(frozen=True)
class Not:
    """The negation of ``item`` (two-valued: a condition on a missing value is false, so its NOT is true)."""

    item: Node

    def __str__(self) -> str:
        return f"NOT {_format_operand(self.item)}"


Node = Union[Compare, InList, And, Or, Not]
"""A parsed filter."""


def _format_operand(node: Node) -> str:
    return f"({node})" if isinstance(node, (And, Or)) else str(node)


def _format_value(value: Value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return repr(value)


def format_filter(node: Node | None) -> str:
    """The canonical filter string of ``node`` (``""`` for None); parsing it gives ``node`` back."""
    return "" if node is None else str(node)


# ----------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------


class FilterSyntaxError(InvalidFilterError):
    """A malformed filter or order_by item; ``position`` is the 0-based offset of the offending token."""

    def __init__(self, what: str, text: str, position: int, reason: str) -> None:
        shown = "".join(" " if ch in "\t\r\n\f\v" else ch for ch in text)
        super().__init__(
            f"Invalid {what} {text!r} at position {position}: {reason}\n  {shown}\n  {' ' * position}^"
        )
        self.what = what
        self.text = text
        self.position = position
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.what, self.text, self.position, self.reason))


# ----------------------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------------------

TokenKind = Literal["path", "string", "number", "op", "(", ")", ",", "eof"]


@dataclass(frozen=True)
class _Segment:
    """One dot-separated piece of a field path; ``quoted`` when written in backticks or double quotes."""

    text: str
    pos: int
    quoted: bool = False


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    text: str  # the source text of the token
    pos: int
    value: Any = None  # str for strings, int/float for numbers, tuple[_Segment, ...] for paths

    @property
    def keyword(self) -> str | None:
        """``AND``, ``OR``, ``NOT``, ``IN``, ``LIKE``, ``ILIKE``, ``ASC``, ``DESC`` when the token is one."""
        if self.kind == "path" and len(self.value) == 1 and not self.value[0].quoted:
            word = self.value[0].text.upper()
            if word in _KEYWORDS:
                return word
        return None

    def describe(self) -> str:
        return "the end of the filter" if self.kind == "eof" else repr(self.text)


_KEYWORDS = frozenset(("AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "ASC", "DESC"))
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_PART = re.compile(r"[A-Za-z0-9_-]+")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_STRING_ESCAPES = frozenset("\\'\"`")
_PUNCTUATION: dict[str, TokenKind] = {"(": "(", ")": ")", ",": ","}
_DIGITS = frozenset("0123456789")


class _Tokenizer:
    """Splits a filter into tokens, decoding strings, numbers and field paths; raises on malformed input."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what

    def error(self, pos: int, reason: str) -> FilterSyntaxError:
        return FilterSyntaxError(self.what, self.text, pos, reason)

    def tokens(self) -> list[_Token]:
        text, i, out = self.text, 0, []
        while i < len(text):
            ch = text[i]
            if ch.isspace():
                i += 1
            elif ch in "'\"":
                value, end = self.quoted(i, "string")
                out.append(_Token("string", text[i:end], i, value))
                i = end
            elif ch == "`":
                raise self.error(i, "a backticked key must follow a prefix, as in tags.`my key`")
            elif ch in _DIGITS or (ch == "-" and text[i + 1 : i + 2] in _DIGITS):
                tok = self.number(i)
                out.append(tok)
                i = tok.pos + len(tok.text)
            elif ch.isascii() and (ch.isalpha() or ch == "_"):
                tok = self.path(i)
                out.append(tok)
                i = tok.pos + len(tok.text)
            elif ch in _PUNCTUATION:
                out.append(_Token(_PUNCTUATION[ch], ch, i))
                i += 1
            else:
                op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
                if op is None:
                    raise self.error(i, f"unexpected character {ch!r}")
                out.append(_Token("op", op, i))
                i += len(op)
        out.append(_Token("eof", "", len(text)))
        return out

    def quoted(self, start: int, what: str) -> tuple[str, int]:
        """Decode the quoted string or key opening at ``start``; return it and the offset after it."""
        text, quote = self.text, self.text[start]
        parts: list[str] = []
        i = start + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in _STRING_ESCAPES:
                parts.append(text[i + 1])
                i += 2
            elif ch == quote:
                if text[i + 1 : i + 2] == quote:
                    parts.append(quote)
                    i += 2
                else:
                    return "".join(parts), i + 1
            else:
                parts.append(ch)
                i += 1
        raise self.error(start, f"unterminated {what}: missing closing {quote}")

    def number(self, start: int) -> _Token:
        text = self.text
        match = _NUMBER.match(text, start)
        assert match is not None  # the caller saw a digit
        end = match.end()
        if end < len(text) and (text[end].isalnum() or text[end] in "_.`'\""):
            stop = end
            while stop < len(text) and not text[stop].isspace() and text[stop] not in "(),=<>!":
                stop += 1
            raise self.error(start, f"invalid number {text[start:stop]!r}")
        source = match.group(0)
        value: int | float
        if match.group(1) or match.group(2):
            value = float(source)
            if not math.isfinite(value):
                raise self.error(start, f"number {source} is out of range")
        else:
            value = int(source)
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise self.error(start, f"integer {source} does not fit in 64 bits")
        return _Token("number", source, start, value)

    def path(self, start: int) -> _Token:
        """A field path: an identifier, then ``.``-separated bare parts, optionally ending in a quoted key."""
        text = self.text
        match = _IDENT.match(text, start)
        assert match is not None
        segments = [_Segment(match.group(0), start)]
        i = match.end()
        while i < len(text) and text[i] == ".":
            i += 1
            if i < len(text) and text[i] in '`"':
                value, end = self.quoted(i, "key")
                if not value:
                    raise self.error(i, "empty key")
                segments.append(_Segment(value, i, quoted=True))
                i = end
                break
            part = _KEY_PART.match(text, i)
            if part is None:
                prefix = text[start : i - 1]
                raise self.error(i, f"expected a name or key after {prefix + '.'!r}")
            segments.append(_Segment(part.group(0), i))
            i = part.end()
        return _Token("path", text[start:i], start, tuple(segments))


# ----------------------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FieldSpec:
    """What a resolved field accepts."""

    ops: frozenset[str]
    numeric: bool | None  # True: numbers only, False: strings only, None: either (span attributes)
    allowed: tuple[str, ...] = ()


_MAX_DEPTH = 20
"""Most NOTs and parentheses a filter may nest: SQLite's parser (a 100-entry stack) rejects the SQL of some
filters nested about 28 deep, so this leaves room for what the store adds around the filter."""

_ErrorFactory = Callable[[int, str], FilterSyntaxError]
"""Builds the error to raise for a reason found at a position of the text being parsed."""


class _Parser:
    """Recursive descent over the tokens of one filter string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Tokenizer(text, "filter").tokens()
        self.i = 0
        self.depth = 0

    def error(self, pos: int, reason: str) -> FilterSyntaxError:
        return FilterSyntaxError("filter", self.text, pos, reason)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def previous(self) -> _Token | None:
        return self.tokens[self.i - 1] if self.i > 0 else None

    # -- boolean structure -------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind == ")":
            raise self.error(tok.pos, "unbalanced ')': no '(' to close")
        if tok.kind != "eof":
            raise self.error(
                tok.pos, f"unexpected {tok.describe()} after a complete condition (missing AND/OR?)"
            )
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek().keyword == "OR":
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.peek().keyword == "AND":
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        tok = self.peek()
        if tok.keyword == "NOT":
            self.advance()
            self.nest(tok)
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.primary()

    def nest(self, tok: _Token) -> None:
        """Count one more level of NOT or parentheses (see ``_MAX_DEPTH``)."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(tok.pos, f"the filter nests NOT and parentheses more than {_MAX_DEPTH} deep")

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.advance()
            self.nest(tok)
            node = self.or_expr()
            self.depth -= 1
            close = self.peek()
            if close.kind != ")":
                raise self.error(
                    close.pos, f"expected ')' to close the '(' at position {tok.pos}, got {close.describe()}"
                )
            self.advance()
            return node
        if tok.kind == "path" and tok.keyword not in ("AND", "OR", "NOT"):
            return self.condition()
        prev = self.previous()
        after = f" after {prev.text.upper()!r}" if prev is not None and prev.keyword else ""
        if prev is not None and prev.kind == "(":
            after = " after '('"
        if tok.kind in ("string", "number"):
            raise self.error(tok.pos, f"expected a field name{after}, got the value {tok.text}")
        raise self.error(tok.pos, f"expected a condition{after}, got {tok.describe()}")

    # -- conditions --------------------------------------------------------------------------------------
    def condition(self) -> Node:
        field_tok = self.advance()
        field, spec = self.resolve_field(field_tok)
        op_tok = self.peek()
        op = self.comparator(field_tok)
        if op not in spec.ops:
            allowed = ", ".join(o for o in (*_EQ_OPS, *_ORDER_OPS, *_LIKE_OPS) if o in spec.ops)
            raise self.error(op_tok.pos, f"comparator {op} is not allowed on {field} (allowed: {allowed})")
        if op in ("IN", "NOT IN"):
            values = self.in_list(op)
            checked = tuple(self.check_value(field, spec, op, v, pos) for v, pos in values)
            for value, pos in values[1:]:
                if isinstance(value, str) != isinstance(values[0][0], str):
                    raise self.error(pos, f"the {op} list mixes strings and numbers")
            return InList(field, checked, negated=op == "NOT IN")
        value_tok = self.peek()
        value = self.value(f"after '{op}'")
        return Compare(field, op, self.check_value(field, spec, op, value, value_tok.pos))

    def comparator(self, field_tok: _Token) -> str:
        tok = self.advance()
        if tok.kind == "op":
            return "!=" if tok.text == "<>" else tok.text
        word = tok.keyword
        if word in ("IN", "LIKE", "ILIKE"):
            return word
        if word == "NOT":
            nxt = self.advance()
            if nxt.keyword in ("IN", "LIKE", "ILIKE"):
                return f"NOT {nxt.keyword}"
            raise self.error(nxt.pos, f"expected IN, LIKE or ILIKE after NOT, got {nxt.describe()}")
        raise self.error(
            tok.pos,
            f"expected a comparator (=, !=, <, <=, >, >=, IN, NOT IN, LIKE, ILIKE) after "
            f"{field_tok.text!r}, got {tok.describe()}",
        )

    def value(self, where: str) -> Value:
        tok = self.peek()
        if tok.kind in ("string", "number"):
            self.advance()
            return tok.value
        if tok.kind == "path" and tok.keyword is None:
            raise self.error(
                tok.pos, f"expected a value {where}, got {tok.text!r} (quote strings: '{tok.text}')"
            )
        raise self.error(tok.pos, f"expected a value {where}, got {tok.describe()}")

    def in_list(self, op: str) -> list[tuple[Value, int]]:
        tok = self.advance()
        if tok.kind != "(":
            raise self.error(tok.pos, f"expected '(' after '{op}', got {tok.describe()}")
        if self.peek().kind == ")":
            raise self.error(self.peek().pos, f"empty {op} list: give at least one value")
        values: list[tuple[Value, int]] = []
        where = f"after '{op} ('"
        while True:
            pos = self.peek().pos
            values.append((self.value(where), pos))
            sep = self.advance()
            if sep.kind == ")":
                return values
            if sep.kind != ",":
                raise self.error(sep.pos, f"expected ',' or ')' in the {op} list, got {sep.describe()}")
            where = "after ','"

    def check_value(self, field: Field, spec: _FieldSpec, op: str, value: Value, pos: int) -> Value:
        """Check the literal suits the field and the comparator; return it normalized."""
        is_str = isinstance(value, str)
        if spec.numeric is True and is_str:
            raise self.error(pos, f"{field} needs a number, got the string {_format_value(value)}")
        if spec.numeric is False and not is_str:
            raise self.error(pos, f"{field} needs a quoted string, got the number {value!r}")
        if op in _ORDER_OPS and is_str:
            raise self.error(pos, f"{op} compares numbers only, got the string {_format_value(value)}")
        if op in _LIKE_OPS:
            if not is_str:
                raise self.error(pos, f"{op} needs a quoted pattern, got the number {value!r}")
            assert isinstance(value, str)
            if _trailing_escape(value):
                raise self.error(pos, f"the {op} pattern ends with an escape character '\\'")
        if spec.allowed:
            assert isinstance(value, str)
            upper = value.upper()
            if upper not in spec.allowed:
                raise self.error(
                    pos, f"unknown {field} {_format_value(value)}: expected one of {', '.join(spec.allowed)}"
                )
            return upper
        return value

    def resolve_field(self, tok: _Token) -> tuple[Field, _FieldSpec]:
        return _resolve_field(tok, self.error)


def _resolve_field(tok: _Token, error: _ErrorFactory) -> tuple[Field, _FieldSpec]:
    """The field a path token names, with what it accepts; ``error(pos, reason)`` builds the exception."""
    segments: tuple[_Segment, ...] = tok.value
    head = segments[0]
    prefix = head.text.lower()
    if len(segments) == 1:
        name = _ATTRIBUTE_ALIASES.get(prefix, prefix)
        if name in _ATTRIBUTES:
            attr = _ATTRIBUTES[name]
            return Field("attribute", name), _FieldSpec(attr.ops, attr.numeric, attr.allowed)
        if prefix in _TAG_PREFIXES or prefix in ("span", *_ATTRIBUTE_PREFIXES):
            raise error(
                head.pos + len(head.text), f"{head.text!r} needs a name after it, as in {head.text}.<name>"
            )
        raise error(
            head.pos,
            f"unknown field {head.text!r}; expected one of {', '.join(_ATTRIBUTES)}, "
            "or tags.<key>, metadata.<key>, span.<field>",
        )
    if prefix in _ATTRIBUTE_PREFIXES:
        sub = segments[1]
        name = _ATTRIBUTE_ALIASES.get(sub.text.lower(), sub.text.lower())
        if len(segments) > 2 or name not in _ATTRIBUTES:
            bad = ".".join(s.text for s in segments[1:])
            raise error(sub.pos, f"unknown attribute {bad!r}; expected one of {', '.join(_ATTRIBUTES)}")
        attr = _ATTRIBUTES[name]
        return Field("attribute", name), _FieldSpec(attr.ops, attr.numeric, attr.allowed)
    if prefix in _TAG_PREFIXES:
        kind: FieldKind = "tag" if _TAG_PREFIXES[prefix] == "tag" else "metadata"
        return Field(kind, key=_key_of(segments[1:], error)), _FieldSpec(_STRING_OPS, False)
    if prefix == "span":
        sub = segments[1]
        name = _SPAN_ALIASES.get(sub.text.lower(), sub.text.lower())
        if name == "attributes":
            if len(segments) == 2:
                raise error(
                    sub.pos + len(sub.text), "'span.attributes' needs a key, as in span.attributes.<key>"
                )
            return Field("span", "attributes", _key_of(segments[2:], error)), _FieldSpec(
                _SPAN_ATTRIBUTE_OPS, None
            )
        if name not in _SPAN_FIELDS or len(segments) > 2:
            bad = ".".join(s.text for s in segments[1:])
            raise error(
                sub.pos,
                f"unknown span field {bad!r}; expected name, type, status, inputs, outputs or attributes.<key>",
            )
        _, ops, allowed = _SPAN_FIELDS[name]
        return Field("span", name), _FieldSpec(ops, False, allowed)
    raise error(
        head.pos,
        f"unknown field prefix {head.text!r}; expected attributes., trace., tags., metadata. or span.",
    )


def _key_of(segments: Sequence[_Segment], error: _ErrorFactory) -> str:
    if len(segments) > 1 and segments[-1].quoted:
        raise error(segments[-1].pos, "a quoted key must follow the prefix directly, as in tags.`a.b c`")
    return ".".join(s.text for s in segments)


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter string into its AST; None, ``""`` and blanks give None (match everything).

    Raises :class:`FilterSyntaxError` (an :class:`InvalidFilterError`) quoting the filter and pointing at the
    offending token.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidFilterError(f"Invalid filter {text!r}: expected a string")
    if not text.strip():
        return None
    return _Parser(text).parse()


# ----------------------------------------------------------------------------------------------------------
# LIKE patterns
# ----------------------------------------------------------------------------------------------------------

_ANY, _ONE = object(), object()


def _trailing_escape(pattern: str) -> bool:
    """Whether the pattern ends with an unescaped backslash (PostgreSQL rejects such patterns)."""
    count = len(pattern) - len(pattern.rstrip("\\"))
    return count % 2 == 1


def _pattern_parts(pattern: str) -> list[object]:
    """``_ANY`` for ``%``, ``_ONE`` for ``_``, else the literal character (a backslash escapes the next one)."""
    parts: list[object] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            parts.append(pattern[i + 1])
            i += 2
            continue
        parts.append(_ANY if ch == "%" else _ONE if ch == "_" else ch)
        i += 1
    return parts


def _like_pattern(pattern: str) -> str:
    """The pattern in canonical LIKE form with ``\\`` as the escape character."""
    out = []
    for part in _pattern_parts(pattern):
        if part is _ANY:
            out.append("%")
        elif part is _ONE:
            out.append("_")
        else:
            assert isinstance(part, str)
            out.append("\\" + part if part in "%_\\" else part)
    return "".join(out)


def _glob_pattern(pattern: str) -> str:
    """The pattern as an SQLite GLOB (case-sensitive): ``*``, ``?`` and ``[x]`` for literal specials."""
    out = []
    for part in _pattern_parts(pattern):
        if part is _ANY:
            out.append("*")
        elif part is _ONE:
            out.append("?")
        else:
            assert isinstance(part, str)
            out.append(f"[{part}]" if part in "*?[" else part)
    return "".join(out)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@lru_cache(maxsize=256)
def _like_regex(pattern: str, fold: bool) -> re.Pattern[str]:
    out = []
    for part in _pattern_parts(pattern.translate(_ASCII_LOWER) if fold else pattern):
        if part is _ANY:
            out.append(".*")
        elif part is _ONE:
            out.append(".")
        else:
            assert isinstance(part, str)
            out.append(re.escape(part))
    return re.compile("".join(out), re.DOTALL)


def _like(value: str, pattern: str, fold: bool) -> bool:
    subject = value.translate(_ASCII_LOWER) if fold else value
    return _like_regex(pattern, fold).fullmatch(subject) is not None


# ----------------------------------------------------------------------------------------------------------
# Dialect-specific SQL constructs
# ----------------------------------------------------------------------------------------------------------


class _CaseSensitiveLike(ColumnElement[bool]):
    """``expr LIKE pattern`` matching case: plain LIKE on PostgreSQL, GLOB on SQLite (whose LIKE ignores case)."""

    inherit_cache = False  # the pattern is rendered per dialect, so statements holding it are not cached
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" where booleans are not native (SQLite)

    def __init__(self, expr: ColumnElement[Any], pattern: str) -> None:
        self.expr = expr
        self.pattern = pattern


@compiles(_CaseSensitiveLike)
def _compile_like_default(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    clause = element.expr.like(literal(_like_pattern(element.pattern), String), escape="\\")
    return compiler.process(Grouping(clause), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    clause = element.expr.op("GLOB", is_comparison=True)(literal(_glob_pattern(element.pattern), String))
    return compiler.process(Grouping(clause), **kw)


class _JsonAttribute(ColumnElement[Any]):
    """One key of the JSON object in ``spans.attributes``: its text if ``kind`` is ``"text"`` and the value is a
    JSON string, its number if ``"number"`` and it is a JSON number, else NULL."""

    inherit_cache = False

    def __init__(self, column: ColumnElement[Any], key: str, kind: Literal["text", "number"]) -> None:
        self.column = column
        self.key = key
        self.kind = kind
        self.type: TypeEngine[Any] = Text() if kind == "text" else Float()


@compiles(_JsonAttribute)
def _compile_json_default(element: _JsonAttribute, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: CASE WHEN jsonb_typeof(col::jsonb -> key) = 'string' THEN col::jsonb ->> key END. CASE keeps
    # the numeric cast from ever seeing a non-number.
    doc = cast(element.column, JSONB)
    key = literal(element.key, Text)
    json_type = "string" if element.kind == "text" else "number"
    text_value = doc.op("->>", return_type=Text)(key)
    value = text_value if element.kind == "text" else cast(text_value, Float)
    typeof = func.jsonb_typeof(doc.op("->", return_type=JSONB)(key), type_=Text)
    clause = case((typeof == literal(json_type, Text), value), else_=None)
    return compiler.process(clause, **kw)


@compiles(_JsonAttribute, "sqlite")
def _compile_json_sqlite(element: _JsonAttribute, compiler: SQLCompiler, **kw: Any) -> str:
    # json_each rather than json_extract: SQLite's JSON paths cannot spell keys holding a double quote.
    column = compiler.process(element.column, **kw)
    key = compiler.process(literal(element.key, Text), **kw)
    types = "'text'" if element.kind == "text" else "'integer', 'real'"
    return f"(SELECT je.value FROM json_each({column}) AS je WHERE je.key = {key} AND je.type IN ({types}))"


_BINARY_COLLATED = frozenset(("status", "name", "run_id"))


class _BinaryOrder(ColumnElement[Any]):
    """A string column compared by code point: ``COLLATE "C"`` on PostgreSQL, as is elsewhere (SQLite's default
    collation is already binary)."""

    inherit_cache = False

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_BinaryOrder)
def _compile_binary_default(element: _BinaryOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_BinaryOrder, "postgresql")
def _compile_binary_pg(element: _BinaryOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.collate("C"), **kw)


# ----------------------------------------------------------------------------------------------------------
# Compiler
# ----------------------------------------------------------------------------------------------------------


def compile_filter(node: Node | None) -> ColumnElement[bool] | None:
    """The WHERE clause over ``schema.traces`` selecting the traces ``node`` matches (None for None).

    Tags, metadata and spans are tested with correlated EXISTS subqueries, so the query never gains rows.
    Every value and key is a bound parameter. Each condition is true or false, never NULL (nullable columns
    are guarded), so NOT behaves as in :func:`evaluate`.
    """
    return None if node is None else _compile(node)


def _compile(node: Node) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_compile(item) for item in node.items))
    if isinstance(node, Or):
        return or_(*(_compile(item) for item in node.items))
    if isinstance(node, Not):
        return not_(_compile(node.item))
    if isinstance(node, Compare):
        return _compile_condition(node.field, node.op, (node.value,))
    if isinstance(node, InList):
        return _compile_condition(node.field, "NOT IN" if node.negated else "IN", node.values)
    raise TypeError(f"not a filter node: {node!r}")


def _compile_condition(field: Field, op: str, values: tuple[Value, ...]) -> ColumnElement[bool]:
    traces = schema.traces
    if field.kind == "attribute":
        column = traces.c[field.name]
        predicate = _predicate(column, op, values)
        return and_(column.is_not(None), predicate) if _ATTRIBUTES[field.name].nullable else predicate
    if field.kind in ("tag", "metadata"):
        table = schema.trace_tags if field.kind == "tag" else schema.trace_metadata
        return (
            exists()
            .where(
                table.c.request_id == traces.c.request_id,
                table.c.key == literal(field.key, String),
                _predicate(table.c.value, op, values),
            )
            .correlate(traces)
        )
    spans = schema.spans
    subject: ColumnElement[Any]
    if field.name == "attributes":
        assert field.key is not None
        subject = _JsonAttribute(
            spans.c.attributes, field.key, "text" if isinstance(values[0], str) else "number"
        )
    else:
        subject = spans.c[_SPAN_FIELDS[field.name][0]]
    return (
        exists()
        .where(spans.c.request_id == traces.c.request_id, _predicate(subject, op, values))
        .correlate(traces)
    )


def _bind(value: Value) -> ColumnElement[Any]:
    """A bound parameter typed by the literal, not by the column it meets (so 1.5 never becomes a BIGINT 2)."""
    if isinstance(value, str):
        return literal(value, String)
    return literal(value, BigInteger if isinstance(value, int) else Float)


def _predicate(subject: ColumnElement[Any], op: str, values: tuple[Value, ...]) -> ColumnElement[bool]:
    """``subject op value(s)``; the caller makes sure ``subject`` is not NULL where that matters."""
    value: Any = _bind(values[0])
    if op == "=":
        return subject == value
    if op == "!=":
        return subject != value
    if op == "<":
        return subject < value
    if op == "<=":
        return subject <= value
    if op == ">":
        return subject > value
    if op == ">=":
        return subject >= value
    if op == "IN":
        return subject.in_([_bind(v) for v in values])
    if op == "NOT IN":
        return subject.not_in([_bind(v) for v in values])
    pattern = values[0]
    assert isinstance(pattern, str)
    if op == "LIKE":
        return _CaseSensitiveLike(subject, pattern)
    if op == "NOT LIKE":
        return not_(_CaseSensitiveLike(subject, pattern))
    if op == "ILIKE":
        return subject.ilike(literal(_like_pattern(pattern), String), escape="\\")
    if op == "NOT ILIKE":
        return not_(subject.ilike(literal(_like_pattern(pattern), String), escape="\\"))
    raise ValueError(f"unknown comparator {op!r}")


# ----------------------------------------------------------------------------------------------------------
# Reference evaluation
# ----------------------------------------------------------------------------------------------------------


def trace_attribute(trace: Trace, name: str) -> Any:
    """The value of the searchable attribute ``name`` of ``trace`` (as the ``traces`` column holds it)."""
    info = trace.info
    if name == "status":
        return getattr(info.status, "value", info.status)
    if name == "timestamp_ms":
        return info.timestamp_ms
    if name == "execution_time_ms":
        return info.execution_time_ms
    if name == "request_id":
        return info.request_id
    if name == "name":
        root = trace.data.root_span
        return None if root is None else root.name
    if name == "run_id":
        return info.request_metadata.get(_RUN_ID_METADATA)
    if name in _TOKEN_METADATA:
        raw = info.request_metadata.get(_TOKEN_METADATA[name])
        try:
            return None if raw is None else int(raw)
        except ValueError:
            return None
    raise KeyError(f"unknown trace attribute {name!r}")


def _span_value(span: Span, field: Field) -> Any:
    name = field.name
    if name == "name":
        return span.name
    if name == "type":
        return span.span_type
    if name == "status":
        return span.status.status_code.value
    if name in ("inputs", "outputs"):
        key = SpanAttributeKey.INPUTS if name == "inputs" else SpanAttributeKey.OUTPUTS
        return span._attrs.get(key)  # the stored JSON text, as the spans column holds it
    assert field.key is not None
    if field.key in SpanAttributeKey.RESERVED:  # kept in their own columns, not in spans.attributes
        return None
    return span.get_attribute(field.key)


def _test(value: Any, op: str, values: tuple[Value, ...]) -> bool:
    """Whether ``value op values`` holds; a missing value, or one of the other type, never does."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(values[0], str):
        if not isinstance(value, str):
            return False
    elif not isinstance(value, (int, float)):
        return False
    operand = values[0]
    if op == "=":
        return bool(value == operand)
    if op == "!=":
        return bool(value != operand)
    if op == "<":
        return bool(value < operand)
    if op == "<=":
        return bool(value <= operand)
    if op == ">":
        return bool(value > operand)
    if op == ">=":
        return bool(value >= operand)
    if op == "IN":
        return value in values
    if op == "NOT IN":
        return value not in values
    assert isinstance(operand, str)
    if op in ("LIKE", "NOT LIKE"):
        return _like(value, operand, fold=False) != (op == "NOT LIKE")
    if op in ("ILIKE", "NOT ILIKE"):
        return _like(value, operand, fold=True) != (op == "NOT ILIKE")
    raise ValueError(f"unknown comparator {op!r}")


def _evaluate_condition(field: Field, op: str, values: tuple[Value, ...], trace: Trace) -> bool:
    if field.kind == "attribute":
        return _test(trace_attribute(trace, field.name), op, values)
    if field.kind == "tag":
        return _test(trace.info.tags.get(field.key or ""), op, values)
    if field.kind == "metadata":
        return _test(trace.info.request_metadata.get(field.key or ""), op, values)
    return any(_test(_span_value(span, field), op, values) for span in trace.data.spans)


def evaluate(node: Node | None, trace: Trace) -> bool:
    """Whether ``trace`` matches ``node`` (None matches everything), with exactly the semantics of the SQL that
    :func:`compile_filter` produces: the reference implementation the store is tested against."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(item, trace) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, trace) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, trace)
    if isinstance(node, Compare):
        return _evaluate_condition(node.field, node.op, (node.value,), trace)
    if isinstance(node, InList):
        return _evaluate_condition(node.field, "NOT IN" if node.negated else "IN", node.values, trace)
    raise TypeError(f"not a filter node: {node!r}")


# ----------------------------------------------------------------------------------------------------------
# Ordering and keyset pagination
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderTerm:
    """One sort key: a trace attribute (canonical name, which is also its ``traces`` column) and a direction."""

    field: str
    descending: bool = False

    def __str__(self) -> str:
        return f"attributes.{self.field} {'DESC' if self.descending else 'ASC'}"


_DEFAULT_ORDER = (OrderTerm("timestamp_ms", descending=True),)
_TIE_BREAKER = "request_id"


def parse_order_by(items: Sequence[str] | None) -> list[OrderTerm]:
    """Parse ``order_by`` items such as ``"attributes.timestamp_ms DESC"``, ``"name"`` (ASC by default).

    Only trace attributes can be sorted on; an unknown field, a bad direction, trailing text or a field given
    twice raises :class:`FilterSyntaxError`.
    """
    if items is None:
        return []
    if isinstance(items, str):
        raise InvalidFilterError(f"Invalid order_by {items!r}: expected a list of strings, not one string")
    terms: list[OrderTerm] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidFilterError(f"Invalid order_by item {item!r}: expected a string")
        term = _parse_order_item(item)
        if any(t.field == term.field for t in terms):
            raise FilterSyntaxError("order_by", item, 0, f"{term.field} is already ordered on")
        terms.append(term)
    return terms


def _parse_order_item(item: str) -> OrderTerm:
    tokens = _Tokenizer(item, "order_by").tokens()

    def error(pos: int, reason: str) -> FilterSyntaxError:
        return FilterSyntaxError("order_by", item, pos, reason)

    first = tokens[0]
    if first.kind == "eof":
        raise error(first.pos, "empty order_by item: expected a trace attribute such as timestamp_ms")
    if first.kind != "path" or first.keyword is not None:
        raise error(first.pos, f"expected a trace attribute to order by, got {first.describe()}")
    field, _ = _resolve_field(first, error)
    if field.kind != "attribute":
        raise error(first.pos, f"can only order by trace attributes ({', '.join(_ATTRIBUTES)}), not {field}")
    direction = tokens[1]
    descending = False
    rest = 2
    if direction.kind != "eof":
        if direction.keyword not in ("ASC", "DESC"):
            raise error(
                direction.pos, f"expected ASC or DESC after {first.text!r}, got {direction.describe()}"
            )
        descending = direction.keyword == "DESC"
    else:
        rest = 1
    if tokens[rest].kind != "eof":
        raise error(tokens[rest].pos, f"unexpected {tokens[rest].describe()} after the sort direction")
    return OrderTerm(field.name, descending)


def effective_order(terms: Sequence[OrderTerm]) -> list[OrderTerm]:
    """The order actually applied: ``timestamp_ms DESC`` when ``terms`` is empty, then ``request_id`` (in the
    direction of the last term) unless already there, which makes the order total."""
    result = list(terms) or list(_DEFAULT_ORDER)
    if all(t.field != _TIE_BREAKER for t in result):
        result.append(OrderTerm(_TIE_BREAKER, result[-1].descending))
    return result


def _sort_column(field: str) -> ColumnElement[Any]:
    column = schema.traces.c[field]
    return _BinaryOrder(column) if field in _BINARY_COLLATED else column


def compile_order_by(terms: Sequence[OrderTerm]) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for :func:`effective_order` of ``terms``; NULLs sort as the smallest value.

    ``NULLS FIRST``/``NULLS LAST`` are only written for nullable columns: on NOT NULL columns they change
    nothing but would keep PostgreSQL from scanning its (ASC NULLS LAST) indexes backwards.
    """
    clauses: list[ColumnElement[Any]] = []
    for term in effective_order(terms):
        column = _sort_column(term.field)
        clause = column.desc() if term.descending else column.asc()
        if _ATTRIBUTES[term.field].nullable:
            clause = clause.nulls_last() if term.descending else clause.nulls_first()
        clauses.append(clause)
    return clauses


def order_values(terms: Sequence[OrderTerm], row: Mapping[str, Any]) -> list[Any]:
    """The sort values of a result row (keyed by ``traces`` column names), as :func:`keyset_condition` wants."""
    return [row[term.field] for term in effective_order(terms)]


def keyset_condition(terms: Sequence[OrderTerm], last_values: Sequence[Any]) -> ColumnElement[bool]:
    """The WHERE condition selecting the rows that come strictly after the row whose sort values (see
    :func:`order_values`) are ``last_values``, in the order :func:`compile_order_by` gives."""
    order = effective_order(terms)
    if len(last_values) != len(order):
        raise InvalidFilterError(
            f"Invalid pagination position: expected {len(order)} sort values "
            f"({', '.join(str(t) for t in order)}), got {len(last_values)}"
        )
    branches: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for term, value in zip(order, last_values, strict=True):
        column = _sort_column(term.field)
        after = _after(column, term, value)
        if after is not None:
            branches.append(and_(*equal_so_far, after))
        equal_so_far.append(column.is_(None) if value is None else column == value)
    condition = or_(*branches) if branches else false()
    first, value = order[0], last_values[0]
    if value is not None and not _ATTRIBUTES[first.field].nullable:
        # Redundant, but lets the database seek an index on the first sort column.
        column = _sort_column(first.field)
        condition = and_(column <= value if first.descending else column >= value, condition)
    return condition


def _after(column: ColumnElement[Any], term: OrderTerm, value: Any) -> ColumnElement[bool] | None:
    """Rows whose value of ``column`` sorts strictly after ``value`` (NULL smallest); None when none can."""
    nullable = _ATTRIBUTES[term.field].nullable
    if term.descending:
        if value is None:
            return None
        return or_(column < value, column.is_(None)) if nullable else column < value
    if value is None:
        return column.is_not(None)
    return column > value


def sort_traces(traces: Iterable[Trace], terms: Sequence[OrderTerm]) -> list[Trace]:
    """``traces`` in the order :func:`compile_order_by` gives (NULL smallest, strings by code point)."""
    result = list(traces)
    for term in reversed(effective_order(terms)):  # stable sorts, least significant key first
        result.sort(key=_sort_key(term.field), reverse=term.descending)
    return result


def _sort_key(field: str) -> Callable[[Trace], tuple[bool, Any]]:
    def key(trace: Trace) -> tuple[bool, Any]:
        value = trace_attribute(trace, field)
        return (value is not None, 0 if value is None else value)

    return key
