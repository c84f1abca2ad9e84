"""The settings (on/off, which categories) and ``redact``, which finds and replaces PII in any value.

Settings come from the environment when the plugin is imported and can be changed with ``configure``:

- ``SPANLOG_PII_REDACTION``: ``0`` / ``false`` / ``no`` / ``off`` turns redaction of spans off (default on).
- ``SPANLOG_PII_REDACTION_CATEGORIES``: comma-separated categories to redact, any of ``api_key``, ``email``,
  ``phone`` (default: all). Unknown names are logged and ignored; if none is left, all are redacted, so a
  typo never exports what it meant to hide.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spanlog import InvalidArgumentError
from spanlog_pii_redaction.patterns import API_KEY, CATEGORIES, RULES, SECRET_KEY, Rule, placeholder

_logger = logging.getLogger("spanlog_pii_redaction")

ENABLED_ENV = "SPANLOG_PII_REDACTION"
CATEGORIES_ENV = "SPANLOG_PII_REDACTION_CATEGORIES"
_OFF = {"0", "false", "no", "off"}
_SECRET = placeholder(API_KEY)


@dataclass(frozen=True)
class Settings:
    """What redaction does: whether the span hook runs, and the chosen categories with their rules in order.

    Never changed in place (``configure`` replaces it), so a span is redacted by one consistent state.
    """

    enabled: bool
    categories: frozenset[str]
    rules: tuple[Rule, ...]

    @property
    def secret_keys(self) -> bool:
        """Whether values under secret-named keys (``{"api_key": ...}``) are redacted whatever they hold."""
        return API_KEY in self.categories

    def finds(self, value: Any) -> bool:
        """Whether ``redact`` would find something in ``value``; every string in it is searched at once.

        The strings are joined with newlines, which end every pattern's match, so one search per rule
        covers the whole value: a value without PII costs a few scans of its text.
        """
        texts: list[str] = []
        if _collect(value, texts, self.secret_keys):
            return True
        text = "\n".join(texts)
        return any(rule.finds(text) for rule in self.rules)

    def redact(self, value: Any) -> Any:
        """``value`` redacted by these rules (see the module's ``redact``)."""
        return _redacted(value, self) if self.finds(value) else value


def _settings(enabled: bool, categories: Iterable[str]) -> Settings:
    chosen = frozenset(categories)
    rules = tuple(rule for category in CATEGORIES if category in chosen for rule in RULES[category])
    return Settings(enabled, chosen, rules)


def _enabled_from_env() -> bool:
    return os.environ.get(ENABLED_ENV, "1").strip().lower() not in _OFF


def _categories_from_env() -> frozenset[str]:
    names = {name.strip().lower() for name in os.environ.get(CATEGORIES_ENV, "").split(",") if name.strip()}
    unknown = names.difference(CATEGORIES)
    if unknown:
        _logger.warning(
            "%s: ignoring unknown categories %s (known: %s)",
            CATEGORIES_ENV,
            sorted(unknown),
            ", ".join(CATEGORIES),
        )
    return frozenset(names.intersection(CATEGORIES)) or frozenset(CATEGORIES)


def _checked(categories: Iterable[str]) -> frozenset[str]:
    """The categories as a set (a single name is one category); raises for an unknown name."""
    chosen = frozenset([categories] if isinstance(categories, str) else categories)
    unknown = chosen.difference(CATEGORIES)
    if unknown:
        raise InvalidArgumentError(
            f"unknown PII categories {sorted(unknown)}; valid categories are {list(CATEGORIES)}"
        )
    return chosen


_current = _settings(_enabled_from_env(), _categories_from_env())


def settings() -> Settings:
    """The settings in effect now."""
    return _current


def configure(enabled: bool | None = None, categories: Iterable[str] | None = None) -> None:
    """Turn redaction of spans on or off and choose the categories (``"api_key"``, ``"email"``, ``"phone"``).

    An argument left out takes the value of its environment variable, so ``configure()`` goes back to the
    environment's settings. Raises ``spanlog.InvalidArgumentError`` for an unknown category.
    """
    global _current
    chosen = _categories_from_env() if categories is None else _checked(categories)
    _current = _settings(_enabled_from_env() if enabled is None else bool(enabled), chosen)


def redact(value: Any, categories: Iterable[str] | None = None) -> Any:
    """``value`` with personal data and secrets in its strings replaced by ``[REDACTED:<CATEGORY>]``.

    Dicts, lists and tuples are walked; keys, structure and other values are kept, and a value with nothing
    to redact is returned as the same object (``redact(v) is v``). ``categories`` defaults to the
    configured ones; ``redact`` works even when the span hook is turned off.
    """
    current = _current if categories is None else _settings(True, _checked(categories))
    return current.redact(value)


def _collect(value: Any, texts: list[str], secret_keys: bool) -> bool:
    """Append the strings of ``value`` to ``texts``; True as soon as a secret-named key holds a string."""
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if secret_keys and _is_secret(key, item):
                return True
            if _collect(item, texts, secret_keys):
                return True
    elif isinstance(value, (list, tuple)):
        for item in value:
            if _collect(item, texts, secret_keys):
                return True
    return False


def _is_secret(key: Any, item: Any) -> bool:
    """``{"api_key": "..."}``: a non-empty string under a secret's name, not redacted yet."""
    return (
        isinstance(key, str)
        and isinstance(item, str)
        and item not in ("", _SECRET)
        and bool(SECRET_KEY.search(key))
    )


def _redacted(value: Any, current: Settings) -> Any:
    """``value`` with every string passed through the rules; containers are rebuilt only when changed."""
    if isinstance(value, str):
        text = value
        for rule in current.rules:
            text = rule.apply(text)
        # a phone rule rebuilds a string without changing it when it refuses a phone-shaped match
        return value if text == value else text
    if isinstance(value, Mapping):
        items = {
            key: _SECRET if current.secret_keys and _is_secret(key, item) else _redacted(item, current)
            for key, item in value.items()
        }
        return value if all(items[key] is item for key, item in value.items()) else items
    if isinstance(value, (list, tuple)):
        new = [_redacted(item, current) for item in value]
        if all(n is o for n, o in zip(new, value, strict=True)):
            return value
        return tuple(new) if isinstance(value, tuple) else new
    return value
