"""What counts as personal data or a secret: precompiled rules (a pattern and its replacement) per category.

False positives: spans are full of numbers and ids that look like personal data. The phone patterns need
the shape of a phone number (``+`` and a country code, or 3-3-4 digits with separators), never a bare run
of digits (timestamps, ids, token counts), and refuse matches inside longer dotted or dashed numbers
(versions, IP addresses, dates, UUIDs). ``tests/plugins/pii_redaction`` lists the look-alikes checked.

Speed: most text has nothing to redact, so what counts is the cost of a search that finds nothing.
Python's ``re`` finds a pattern that starts with a literal (``sk-``, ``AIza``, ``:``) by a fast substring
search and one that starts with a character class by a quick scan, but tries a pattern that starts with a
lookbehind at every position, several times slower. So patterns start with their literal or their first
character, and boundary checks come after it as lookbehinds. Rules without a literal also have a ``hint``,
a cheap test that every text with a match passes (it contains ``@``, a digit), so that most text never
reaches their pattern.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass

API_KEY = "api_key"
EMAIL = "email"
PHONE = "phone"
CATEGORIES = (API_KEY, EMAIL, PHONE)
"""Every category, in the order their rules run: secrets first (they may hold digits and ``@``), then
e-mail addresses (they may hold digits), then phone numbers."""


def placeholder(category: str) -> str:
    """The text that replaces a match of ``category``, e.g. ``[REDACTED:EMAIL]``."""
    return f"[REDACTED:{category.upper()}]"


@dataclass(frozen=True)
class Rule:
    """One pattern of a category, what replaces its matches (a text, or a function of the match), and an
    optional hint: a cheap test that every text containing a match passes."""

    category: str
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    hint: Callable[[str], bool] | None = None

    def _may_match(self, text: str) -> bool:
        return self.hint is None or self.hint(text)

    def finds(self, text: str) -> bool:
        """Whether the pattern occurs in ``text`` (a phone-shaped match may still be refused by ``apply``)."""
        return self._may_match(text) and self.pattern.search(text) is not None

    def apply(self, text: str) -> str:
        """``text`` with every match replaced; the very same object when the pattern does not occur."""
        return self.pattern.sub(self.replacement, text) if self._may_match(text) else text


def _contains(*needles: str) -> Callable[[str], bool]:
    """A hint: the text contains one of ``needles`` (``in`` is a fast substring search)."""
    return lambda text: any(needle in text for needle in needles)


def _keep_group_1(category: str) -> Callable[[re.Match[str]], str]:
    """A replacement that keeps group 1 (``Bearer ``, ``: "``) and redacts the rest, the secret itself."""
    text = placeholder(category)
    return lambda m: m.group(1) + text


def _phone_with_digits(low: int, high: int) -> Callable[[re.Match[str]], str]:
    """A replacement that redacts a phone-shaped match only when it has ``low`` to ``high`` digits."""
    text = placeholder(PHONE)

    def replace(m: re.Match[str]) -> str:
        digits = sum(c.isdigit() for c in m.group(0))
        return text if low <= digits <= high else m.group(0)

    return replace


_SECRET_NAMES = (
    "api_key",
    "secret",
    "secret_key",
    "secret_access_key",
    "client_secret",
    "private_key",
    "access_token",
    "auth_token",
    "refresh_token",
    "session_token",
    "bearer_token",
    "password",
    "passwd",
)
"""Names under which a secret is passed, in any case and with ``_``, ``-`` or nothing between the words
(``api_key``, ``API-KEY``, ``apiKey``). Bare ``token`` is left out on purpose: in GenAI traces it is mostly
model text (a streamed chunk, ``eos_token``), not a credential."""


def _spelled(name: str, joiner: str) -> str:
    """The regex of ``name`` with its words joined by ``joiner`` (a regex)."""
    return joiner.join(map(re.escape, name.split("_")))


SECRET_KEY = re.compile(
    rf"(?:^|[_-])(?:{'|'.join(_spelled(name, '[_-]?') for name in _SECRET_NAMES)})$", re.IGNORECASE
)
"""A dictionary key whose string value is a secret whatever it looks like: ``{"api_key": "..."}``,
``{"OPENAI_API_KEY": "..."}``, ``{"x-api-key": "..."}``."""


def _after_secret_name(separator: str) -> str:
    """Lookbehinds that hold just after ``separator`` when a secret's name, maybe followed by a quote or a
    space, comes before it: ``api_key=``, ``"password":``, ``API_KEY =``. A lookbehind must have a fixed
    width, so the spellings are grouped by width, one lookbehind per width."""
    by_width: dict[int, list[str]] = {}
    for name in _SECRET_NAMES:
        words = name.count("_") + 1
        for joiner, width in (("[_-]", len(name)), ("", len(name) - words + 1)):
            for closer in ("", "[\"' ]"):
                before = _spelled(name, joiner) + closer + re.escape(separator)
                by_width.setdefault(width + bool(closer) + 1, []).append(before)
    return "|".join(f"(?<={'|'.join(dict.fromkeys(group))})" for group in by_width.values())


def _named_secret(separator: str) -> Rule:
    """``<secret name><separator> <value>``: the match starts at the separator (a literal, found fast) and
    keeps it and the opening quote; the value, up to a space, quote or delimiter, is redacted. A first
    lookbehind checks just the character before (the last letter of a name, or a quote or space), so
    that most separators are passed over without trying every name."""
    sep = re.escape(separator)
    last = "".join(sorted({name[-1] for name in _SECRET_NAMES}))
    names = _after_secret_name(separator)
    pattern = rf"({sep}(?<=[{last}\"' ]{sep})(?:{names})\s*[\"']?)(?!\[REDACTED)[^\s\"'`<>,;&]{{6,}}"
    return Rule(API_KEY, re.compile(pattern, re.IGNORECASE | re.ASCII), _keep_group_1(API_KEY))


def _literal(category: str, pattern: str) -> Rule:
    """A rule whose pattern starts with a literal, so that ``re`` finds candidates fast without hints."""
    return Rule(category, re.compile(pattern, re.ASCII), placeholder(category))


RULES: dict[str, tuple[Rule, ...]] = {
    API_KEY: (
        # OpenAI and Anthropic: sk-..., sk-proj-..., sk-svcacct-..., sk-ant-api03-...; not in "task-..."
        _literal(API_KEY, r"sk-(?<![\w-]sk-)[A-Za-z0-9_-]{20,}"),
        # AWS access key ids (AKIA long-term, ASIA temporary)
        _literal(API_KEY, r"A[KS]IA[0-9A-Z]{16}(?![0-9A-Za-z])"),
        # GitHub tokens: ghp_ (personal), gho_, ghu_, ghs_, ghr_, and fine-grained github_pat_
        _literal(API_KEY, r"gh[pousr]_[A-Za-z0-9]{36,}"),
        _literal(API_KEY, r"github_pat_[A-Za-z0-9_]{22,}"),
        # Google API keys
        _literal(API_KEY, r"AIza[0-9A-Za-z_-]{35}"),
        # Slack tokens: xoxb-, xoxp-, xoxa-, xoxo-, xoxr-, xoxs-
        _literal(API_KEY, r"xox[abposr]-[A-Za-z0-9-]{10,}"),
        # Hugging Face tokens
        _literal(API_KEY, r"hf_[A-Za-z0-9]{30,}"),
        # JSON Web Tokens: header and payload are base64 JSON objects, and '{"' encodes as "eyJ"
        _literal(API_KEY, r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"),
        # Authorization: Bearer <token>, keeping "Bearer "
        Rule(
            API_KEY,
            re.compile(r"\b(bearer\s+)(?!\[REDACTED)[A-Za-z0-9._~+/-]{16,}=*", re.IGNORECASE | re.ASCII),
            _keep_group_1(API_KEY),
            hint=_contains("earer", "EARER"),
        ),
        # api_key=..., "password": "...", OPENAI_API_KEY: ..., whatever the value looks like
        _named_secret(":"),
        _named_secret("="),
    ),
    EMAIL: (
        # local@domain.tld; not "icon@2x.png" (an image-density suffix), not "pkg@1.2.3" (no letter TLD)
        Rule(
            EMAIL,
            re.compile(
                r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?!\d+x\.)(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![\w-])",
                re.ASCII,
            ),
            placeholder(EMAIL),
            hint=_contains("@"),
        ),
    ),
    PHONE: (
        # International: "+", a country code, digit groups: +1 (555) 123-4567, +44 20 7946 0958,
        # +14155552671; 8 to 15 digits as in E.164. Not after a word character: "1e+10" is a number.
        Rule(
            PHONE,
            re.compile(r"(?<![\w+])\+[1-9]\d*(?:[ .-]?\(\d{1,4}\))?(?:[ .-]\d+)*(?![\w-]|\.\d)", re.ASCII),
            _phone_with_digits(8, 15),
            hint=_contains("+"),
        ),
        # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567 (1-800-555-0199 keeps
        # its "1-"). Separators are required: a bare run of digits is far more often a timestamp, an id or
        # a count than a phone number.
        Rule(
            PHONE,
            re.compile(
                r"""
                [(0-9] (?<! [\w.+] [(0-9] )     # a "(" or digit that does not continue a word, decimal or +number
                (?: (?<=\() [0-9]{3} \) \s?     # (555)
                  | (?<=[0-9]) [0-9]{2} [ .-]   # or 555- 555. 555
                )
                [0-9]{3} [ .-] [0-9]{4}         # 123-4567
                (?! [\w-] | \.[0-9] )           # and not more of a longer number (a version, an IP address)
                """,
                re.VERBOSE | re.ASCII,
            ),
            placeholder(PHONE),
            hint=_contains(*string.digits),
        ),
    ),
}
