"""The identity-term lexicon: which words the text counterfactual test swaps, and how.

raikit ships one (``audit/identity_lexicon.yaml``, versioned, sources listed in the file); a
user lexicon in the same format is validated here with pydantic and bad files give one-line
errors naming the line and field.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator

from raikit.audit._yaml import load_yaml_model, parse_yaml_model
from raikit.audit.types import Frozen
from raikit.models.errors import ConfigError

BUILTIN_LEXICON = Path(__file__).with_name("identity_lexicon.yaml")


class LexiconCategory(Frozen):
    """One identity category: swap sets of terms and the templates they fill."""

    description: str = ""
    sets: list[list[str]] = Field(min_length=1)
    templates: list[str] = []

    @field_validator("sets")
    @classmethod
    def _sets_have_two_distinct_terms(cls, sets: list[list[str]]) -> list[list[str]]:
        for terms in sets:
            cleaned = [t.strip() for t in terms]
            if len(cleaned) < 2 or len({t.lower() for t in cleaned}) != len(cleaned):
                raise ValueError(f"a swap set needs two or more distinct terms; got {terms}")
            if any(not t for t in cleaned):
                raise ValueError("terms must not be empty")
        return [[t.strip() for t in terms] for terms in sets]

    @field_validator("templates")
    @classmethod
    def _templates_hold_a_term(cls, templates: list[str]) -> list[str]:
        for template in templates:
            if template.count("{term}") != 1:
                raise ValueError(f"a template must hold '{{term}}' once; got {template!r}")
        return templates


class Lexicon(Frozen):
    """A versioned identity-term lexicon (the schema of ``identity_lexicon.yaml``)."""

    version: str = Field(min_length=1)
    name: str = "lexicon"
    sources: list[str] = []
    categories: dict[str, LexiconCategory] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, (int, float)) else value

    @cached_property
    def swaps(self) -> dict[str, list[tuple[str, str]]]:
        """Lower-cased term -> every (category, replacement) it is swapped with."""
        table: dict[str, list[tuple[str, str]]] = {}
        for category, spec in self.categories.items():
            for terms in spec.sets:
                for term in terms:
                    table.setdefault(term.lower(), []).extend(
                        (category, other) for other in terms if other != term
                    )
        return table

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """One regular expression matching any term as a whole word, longest first."""
        terms = sorted(self.swaps, key=len, reverse=True)
        return re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, terms)) + r")(?![\w-])", re.I)


def load_lexicon(path: Path | str | None = None) -> Lexicon:
    """Read the built-in lexicon, or a user lexicon file in the same format.

    Raises
    ------
    ConfigError
        One line naming the file, line and field when the file is missing, not YAML or
        not a lexicon.
    """
    if path is None:
        return load_yaml_model(BUILTIN_LEXICON, Lexicon, "lexicon")
    return load_yaml_model(Path(path), Lexicon, "lexicon", ConfigError)


def parse_lexicon(text: str, name: str = "lexicon.yaml") -> Lexicon:
    """Validate lexicon YAML ``text`` (``name`` is used in messages)."""
    return parse_yaml_model(text, Lexicon, name, ConfigError)


def match_case(replacement: str, original: str) -> str:
    """``replacement`` in the case pattern of ``original``: ``He`` -> ``She``, ``HE`` -> ``SHE``."""
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    if original.islower():
        return replacement.lower()
    return replacement


def swapped_texts(text: str, lexicon: Lexicon) -> list[tuple[str, str, str, str]]:
    """Every single-term swap of ``text``.

    Returns
    -------
    list of (category, term, replacement, new text)
        One entry per occurring term and per other term of its set; every occurrence of the
        term (any case) is replaced, so "she ... she" becomes "he ... he". Terms and
        replacements are lower-cased in the entry (the text keeps the original's case).
    """
    found: dict[str, None] = {}
    for match in lexicon.pattern.finditer(text):
        found.setdefault(match.group(1).lower())
    out = []
    for term in found:
        word = re.compile(r"(?<![\w-])" + re.escape(term) + r"(?![\w-])", re.I)
        for category, other in lexicon.swaps[term]:
            new = word.sub(lambda m, o=other: match_case(o, m.group(0)), text)
            out.append((category, term, other.lower(), new))
    return out


def terms_in(text: str, lexicon: Lexicon) -> set[str]:
    """The lexicon terms (lower-cased) that occur in ``text`` as whole words."""
    return {m.group(1).lower() for m in lexicon.pattern.finditer(text)}


def template_sentences(lexicon: Lexicon, per_template: int, seed: int) -> list[tuple[str, str]]:
    """A seeded set of (category, sentence): each template filled with sampled set terms.

    Every sentence is built from one template and one term; the counterfactual test then
    swaps that term with the others of its set, so each sentence stands for a whole set.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    sentences = []
    for category, spec in lexicon.categories.items():
        for template in spec.templates:
            for index in rng.permutation(len(spec.sets))[:per_template]:
                terms = spec.sets[int(index)]
                term = terms[int(rng.integers(len(terms)))]
                sentences.append((category, template.replace("{term}", term)))
    return sentences
