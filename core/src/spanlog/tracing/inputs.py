"""Turn a call's arguments into the span's inputs: every bound parameter, defaults applied, no self/cls.

The signature is inspected once, when a function is decorated; the common call (positional arguments only,
plain parameters) then takes a zip and a few dict stores.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

Binder = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]

_PLAIN = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_SKIPPED_FIRST = ("self", "cls")


def _unbound(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Inputs of a call whose signature is unknown or that does not fit it."""
    inputs: dict[str, Any] = {"args": list(args)} if args else {}
    inputs.update(kwargs)
    return inputs


def make_binder(func: Callable[..., Any]) -> Binder:
    """A function mapping ``(args, kwargs)`` of a call of ``func`` to its inputs dict."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return _unbound
    params = list(signature.parameters.values())
    skip_first = bool(params) and params[0].name in _SKIPPED_FIRST and params[0].kind in _PLAIN
    var_keyword = next((p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)

    def bind_general(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return _unbound(args, kwargs)  # the call itself will raise the user's TypeError
        bound.apply_defaults()
        inputs = dict(bound.arguments)
        if skip_first:
            inputs.pop(params[0].name, None)
        if var_keyword is not None:
            inputs.update(inputs.pop(var_keyword, None) or {})
        return inputs

    if not all(p.kind in _PLAIN for p in params):
        return bind_general

    names = tuple(p.name for p in params)
    defaults = tuple(p.default for p in params)
    empty = inspect.Parameter.empty
    count = len(names)
    first = 1 if skip_first else 0

    def bind_positional(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        given = len(args)
        if kwargs or given > count:
            return bind_general(args, kwargs)
        inputs = dict(zip(names[first:given], args[first:], strict=False)) if first < given else {}
        for i in range(max(given, first), count):
            default = defaults[i]
            if default is empty:
                return bind_general(args, kwargs)
            inputs[names[i]] = default
        return inputs

    return bind_positional
