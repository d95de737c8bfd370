"""What an explanation may show of the rows it explains: the disclosure rule.

A local explanation puts a row's inputs beside their attributions, and the text model's global
importance names words; both would copy the data into the report, the evidence and the
terminal. The rule, applied where explanations are built (so nothing downstream sees the raw
value):

* a number in a numeric column is shown rounded to 4 significant digits (``34``,
  ``5.234e+04``), which keeps what the model read and drops the digits that make an
  identifier (a card or account number stored as a number shows as ``4.111e+15``);
* any other value (a category, a code, free text) is shown only when at least
  :data:`MIN_VALUE_ROWS` rows of the data hold it *and* it does not look like personal data
  (an e-mail address, or five digits or more);
* a word of a text model is shown only when at least :data:`MIN_VALUE_ROWS` rows of the data
  contain it and it does not look like personal data; sentences typed to ``rai explain --text``
  are the user's own, so there only the words that look like personal data are masked;
* everything else is masked with :func:`raikit.audit.pii._mask.mask_value` (every digit and all
  letters but each word's first become ``*``; an e-mail address keeps its first letter and
  top-level domain), and the explanation records why (``masked``) and how many values were
  masked (a finding in the evidence and the report).

The labels of the sensitive groups a row belongs to are shown as the fairness tables show them.
"""

from __future__ import annotations

import re
import string

import pandas as pd

from raikit.audit.pii._mask import mask_value

MIN_VALUE_ROWS = 10
"""Rows of the data that must hold a non-numeric value (or contain a word) for it to be shown."""

MIN_PII_DIGITS = 5
"""A value with this many digits or more may be an identifier (phone, card, account, ID)."""

RULE = (
    f"a value is shown only when it is a number in a numeric column (to 4 significant digits) "
    f"or a category or word held by at least {MIN_VALUE_ROWS} rows of the data that does not "
    f"look like personal data (an e-mail address, {MIN_PII_DIGITS} digits or more); others are "
    "masked"
)

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_WORD = re.compile(r"[^\W_]+(?:[@.'\-][^\W_]+)*")


def _looks_personal(text: str) -> str | None:
    if _EMAIL.search(text):
        return "looks like an e-mail address"
    if sum(c.isdigit() for c in text) >= MIN_PII_DIGITS:
        return f"holds {MIN_PII_DIGITS} digits or more"
    return None


def _mask(text: str) -> str:
    # Not a code type on purpose: every digit is masked, none of the last four kept.
    return mask_value(text, "EMAIL_ADDRESS" if "@" in text else "VALUE")


def _cell_text(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _words(text) -> set[str]:
    return {w.lower() for w in _WORD.findall(str(text))} if isinstance(text, str) else set()


class Disclosure:
    """Decide, value by value, what an explanation of rows of ``frame`` may show.

    Parameters
    ----------
    frame : pandas.DataFrame
        All the data the explained rows come from: a value's frequency is counted there.
    text_column : str, optional
        The text column of a text model (its words are counted per row).
    count_rare : bool
        ``False`` when the rows are the user's own input (``rai explain --text``): then only
        values that look like personal data are masked.
    """

    def __init__(
        self, frame: pd.DataFrame, text_column: str | None = None, *, count_rare: bool = True
    ):
        self.frame, self.text_column, self.count_rare = frame, text_column, count_rare
        self._counts: dict[str, pd.Series] = {}
        self._word_rows: dict[str, int] | None = None
        self._masked: set[tuple[str, str]] = set()

    @property
    def n_masked(self) -> int:
        """Distinct values (per column; words once) masked so far."""
        return len(self._masked)

    def _count(self, column: str, text: str) -> int:
        if column not in self.frame.columns:
            return 0
        if column not in self._counts:
            self._counts[column] = self.frame[column].map(_cell_text).value_counts()
        return int(self._counts[column].get(text, 0))

    def _word_count(self, word: str) -> int:
        if self._word_rows is None:
            rows: dict[str, int] = {}
            if self.text_column is not None and self.text_column in self.frame.columns:
                for text in self.frame[self.text_column]:
                    for w in _words(text):
                        rows[w] = rows.get(w, 0) + 1
            self._word_rows = rows
        key = word.lower().strip(string.punctuation + " ")
        return self._word_rows.get(key, 0) if key else MIN_VALUE_ROWS

    def _verdict(self, where: str, text: str, count: int) -> tuple[str, str | None]:
        reason = _looks_personal(text)
        if reason is None and self.count_rare and count < MIN_VALUE_ROWS:
            reason = f"held by fewer than {MIN_VALUE_ROWS} rows of the data"
        if reason is None:
            return text, None
        self._masked.add((where, text))
        return _mask(text), reason

    def cell(self, column: str, text: str) -> tuple[str, str | None]:
        """``(what to show, why it is masked or None)`` for one tabular value."""
        dtype = self.frame[column].dtype if column in self.frame.columns else None
        if (
            dtype is not None
            and pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
        ):
            try:
                return f"{float(text):.4g}", None
            except ValueError:
                pass
        return self._verdict(column, text, self._count(column, text))

    def word(self, word: str) -> tuple[str, str | None]:
        """``(what to show, why it is masked or None)`` for one word of a text model."""
        return self._verdict("", word, self._word_count(word))

    def note(self) -> str:
        """The finding's message: how many values were masked, and the rule."""
        return f"{self.n_masked} distinct value(s) of the explained rows were masked: {RULE}"
