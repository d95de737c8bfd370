"""Which of many regular expressions can match a text, from one pass of RE2's automata.

The recognizers' patterns are Python (``re`` and ``regex``) patterns, searched one at a time by
backtracking; on a short text most find nothing. :class:`Precheck` compiles all of them into a
few ``RE2::Set`` objects (google-re2), whose DFAs read the text once each and name every
pattern that may match. Only those are then searched, so the results are unchanged, provided
the sets never leave out a pattern Python would match. Three things keep it that way:

* each pattern enters the set widened: lookarounds are removed (a pattern without a condition
  matches at least where it did) and a ``$`` without ``MULTILINE`` also matches before any line
  break; a pattern RE2 cannot parse, or with flags other than ``IGNORECASE``, ``MULTILINE``,
  ``DOTALL`` and ``UNICODE``, is always searched;
* the set reads the text in ASCII, where RE2's ``\\w``, ``\\d``, ``\\s`` and ``\\b`` class
  every character as Python's engines do: a character outside it that both engines class as
  neither word, digit nor space (curly quotes, dashes, symbols) is read as ``\\x7f``, and as a
  space if both class it as one, in the text and in the patterns;
* a text with any other character (a letter or digit outside ASCII) is not pre-checked: every
  pattern is searched.

:func:`re2_twin` gives a pattern that widening leaves unchanged an RE2 twin that finds its
matches too, on a text RE2 reads as Python does (:func:`reads_exactly`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import regex

# Characters RE2 classes as Python's engines do: printable ASCII, tab, line feed, form feed,
# carriage return and the other control characters (Python's ``re`` counts \x1c-\x1f as space,
# ``regex`` does not; vertical tab is space to both, not to RE2).
_UNLIKE_RE2 = re.compile(r"[^\x00-\x0a\x0c-\x1b\x20-\x7f]")
_SUPPORTED_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE
_RE2_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
_LOOKAROUND = ("(?<!", "(?<=", "(?!", "(?=")
# What widen rewrites, besides characters outside ASCII: a pattern without them is kept.
_REWRITTEN = (*_LOOKAROUND, "$", "{,")


@functools.cache
def _stand_in(char: str) -> str | None:
    """What RE2 reads for ``char`` (one RE2 classes unlike Python): a space, ``\\x7f`` for a
    character neither word, digit nor space; None for the others."""
    found = {
        tuple(bool(engine.match(c, char)) for c in (r"\w", r"\d", r"\s")) for engine in (re, regex)
    }
    if found == {(False, False, True)}:
        return " "
    return "\x7f" if found == {(False, False, False)} else None


def ascii_stand_in(text: str) -> str | None:
    """``text`` as the set reads it (see the module); None when it cannot be read so."""
    if reads_exactly(text):
        return text
    out = []
    for char in text:
        if _UNLIKE_RE2.match(char):
            char = _stand_in(char)
            if char is None:
                return None
        out.append(char)
    return "".join(out)


def reads_exactly(text: str) -> bool:
    """Whether RE2 classes every character of ``text`` as Python's engines do."""
    return not _UNLIKE_RE2.search(text)


def re2_twin(pattern: str, flags: int):
    """``pattern`` compiled by RE2, or None where RE2 may find other matches.

    RE2's leftmost-first search finds the matches a backtracking engine finds, for a pattern
    without what :func:`widen` rewrites or refuses (lookarounds, a ``$`` without ``MULTILINE``,
    characters outside ASCII), on a text that :func:`reads_exactly`. The two may step past an
    empty match differently: a search that finds one must be made again in Python.
    """
    import re2

    if not pattern.isascii():  # case folding outside ASCII differs between engines
        return None
    try:
        source = widen(pattern, flags)
    except ValueError:
        return None
    if source != _flag_prefix(flags) + pattern:  # widening changed it
        return None
    try:
        return re2.compile(source, _re2_options())
    except re2.error:
        return None


def _flag_prefix(flags: int) -> str:
    prefix = "".join(letter for flag, letter in _RE2_FLAGS if flags & flag)
    return f"(?{prefix})" if prefix else ""


@functools.cache
def _re2_options():
    import re2

    options = re2.Options()
    options.max_mem = 64 << 20
    options.log_errors = False
    return options


def widen(pattern: str, flags: int) -> str:
    """An RE2 pattern matching wherever ``pattern`` does, on text read as the module says;
    ValueError for other flags, POSIX classes, Unicode properties and names, and characters
    outside ASCII in a negated class or classed as space."""
    if flags & ~_SUPPORTED_FLAGS or re.search(r"\[\[|\[:|\\[pPN]", pattern):
        raise ValueError(f"no RE2 form for {pattern!r}")
    if pattern.isascii() and not any(part in pattern for part in _REWRITTEN):
        return _flag_prefix(flags) + pattern  # nothing to rewrite (presidio's URL patterns)
    out, copied = [], 0
    characters = _characters(pattern)
    for i, char, in_class in characters:
        if not char.isascii():
            stand_in = _stand_in(char)
            if stand_in == " " or (stand_in and in_class == "[^"):
                raise ValueError(f"no RE2 form for {char!r} in {pattern!r}")
            replaced, end = (r"\x7f" if stand_in else char), i + 1
        elif in_class:
            continue
        elif pattern.startswith(_LOOKAROUND, i):
            replaced, end = "", _group_end(pattern, characters)
        elif char == "$" and not flags & re.MULTILINE:
            replaced, end = "(?m:$)", i + 1
        elif pattern.startswith("{,", i):
            replaced, end = "{0,", i + 2
        else:
            continue
        out.extend((pattern[copied:i], replaced))
        copied = end
    return _flag_prefix(flags) + "".join(out) + pattern[copied:]


def _characters(pattern: str):
    """``(index, character, class)`` of each unescaped character of ``pattern``; ``class`` is
    ``"["`` or ``"[^"`` inside a character class, else empty."""
    i, in_class = 0, ""
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if not in_class and char == "[":
            in_class = "[^" if pattern.startswith("[^", i) else "["
            i += len(in_class)
            if pattern.startswith("]", i):  # a leading "]" is a member
                yield i, "]", in_class
                i += 1
            continue
        if in_class and char == "]":
            in_class = ""
        else:
            yield i, char, in_class
        i += 1


def _group_end(pattern: str, characters) -> int:
    """The index after the group just opened, reading on in ``characters``."""
    depth = 1
    for i, char, in_class in characters:
        if not in_class:
            depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return i + 1
    raise ValueError(f"unbalanced group in {pattern!r}")


class Precheck:
    """Which of ``patterns`` (source and flags each) may match a text.

    :meth:`candidates` gives the numbers of every pattern that may match: a superset of those
    Python's engines find a non-empty match of, with those RE2 cannot take always among them.
    The patterns are dealt round-robin into ``n_sets`` sets. RE2 builds a set's automaton
    state by state as texts need them, and in one set over every pattern the partial matches
    of many patterns combine into new states at most new words: on 1,000 new generated
    sentences, after 1,000 others, one set over the engine's 60 patterns took 101 ms, four
    took 31 ms (6 and 10 ms on sentences seen before).
    """

    def __init__(self, patterns: Sequence[tuple[str, int]], n_sets: int = 4):
        import re2

        self._sets: list[tuple[object, list[int], int]] | None = []  # set, numbers, sentinel
        self._always: set[int] = set()
        for first in range(min(n_sets, len(patterns)) or 1):
            search = re2.Set.SearchSet(_re2_options())
            numbers = []
            for number in range(first, len(patterns), n_sets):
                source, flags = patterns[number]
                try:
                    search.Add(widen(source, int(flags)))
                    numbers.append(number)
                except (re2.error, ValueError):
                    self._always.add(number)
            # Matches everywhere: a search that returns without it ran out of DFA memory.
            sentinel = search.Add("")
            try:
                search.Compile()
            except re2.error:  # too large for its memory: nothing is pre-checked
                self._sets = None
                return
            self._sets.append((search, numbers, sentinel))

    def candidates(self, text: str) -> set[int] | None:
        """Numbers of the patterns that may match ``text``; None when it cannot be told."""
        if self._sets is None:
            return None
        stand_in = ascii_stand_in(text)
        if stand_in is None:
            return None
        out = set(self._always)
        for search, numbers, sentinel in self._sets:
            found = search.Match(stand_in)
            if sentinel not in found:
                return None
            out.update(numbers[i] for i in found if i != sentinel)
        return out
