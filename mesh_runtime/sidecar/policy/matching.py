"""Istio's StringMatch (exact / prefix / regex) and header matching, compiled once.

Regexes follow Envoy's safe_regex: the whole value must match (`fullmatch`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.meshconfig import StringMatch


class StringMatcher:
    """One compiled StringMatch; `fits(value)` is the per-request test."""

    __slots__ = ("_exact", "_prefix", "_regex")

    def __init__(self, match: StringMatch, regex: re.Pattern[str] | None = None) -> None:
        self._exact = match.exact
        self._prefix = match.prefix
        self._regex = regex

    def fits(self, value: str) -> bool:
        if self._exact is not None:
            return value == self._exact
        if self._prefix is not None:
            return value.startswith(self._prefix)
        return self._regex is not None and self._regex.fullmatch(value) is not None


class MatcherCache:
    """Compiles StringMatches, each regex pattern once per cache (one cache per table)."""

    __slots__ = ("_patterns",)

    def __init__(self) -> None:
        self._patterns: dict[str, re.Pattern[str]] = {}

    def compile(self, match: StringMatch, where: str) -> StringMatcher:
        if match.regex is None:
            return StringMatcher(match)
        pattern = self._patterns.get(match.regex)
        if pattern is None:
            try:
                pattern = re.compile(match.regex)
            except re.error as exc:
                raise InvalidInput(
                    "mesh config", where, f"not a valid regular expression: {exc}"
                ) from None
            self._patterns[match.regex] = pattern
        return StringMatcher(match, pattern)

    def compile_headers(
        self, headers: Mapping[str, StringMatch], where: str
    ) -> tuple[tuple[str, StringMatcher], ...]:
        """Header matchers keyed by lower-case header name."""
        return tuple(
            (name.lower(), self.compile(match, f"{where}.headers.{name}"))
            for name, match in headers.items()
        )


def headers_fit(
    matchers: tuple[tuple[str, StringMatcher], ...], headers: Mapping[str, str]
) -> bool:
    """True when every header matcher finds its header (keys lower-case) and fits it."""
    for name, matcher in matchers:
        value = headers.get(name)
        if value is None or not matcher.fits(value):
            return False
    return True


def string_fits(match: StringMatch, value: str) -> bool:
    """Uncompiled one-off test; `re` keeps its own cache of compiled patterns."""
    if match.exact is not None:
        return value == match.exact
    if match.prefix is not None:
        return value.startswith(match.prefix)
    return match.regex is not None and re.fullmatch(match.regex, value) is not None
