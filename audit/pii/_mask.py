"""Masking of detected values: what the evidence and report may show of a piece of PII."""

from __future__ import annotations

import re

# Types whose value is a number or code: show only the last four characters, and only when
# the value is long enough that four characters do not identify it.
_CODE_TYPES = frozenset(
    {
        "US_SSN",
        "CREDIT_CARD",
        "PHONE_NUMBER",
        "IBAN_CODE",
        "US_BANK_NUMBER",
        "US_ITIN",
        "US_PASSPORT",
        "US_DRIVER_LICENSE",
        "MEDICAL_LICENSE",
        "CRYPTO",
        "IP_ADDRESS",
    }
)
_WORD = re.compile(r"[^\W_]+")


def _mask_words(text: str) -> str:
    # Each word keeps its first letter (no digit), the rest becomes '*'.
    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        head = word[0] if len(word) > 1 and not word[0].isdigit() else "*"
        return head + "*" * (len(word) - 1)

    return _WORD.sub(one, text)


def _mask_code(text: str) -> str:
    alnum = [i for i, c in enumerate(text) if c.isalnum()]
    keep = set(alnum[-4:]) if len(alnum) >= 9 else set()
    return "".join(c if (i in keep or not c.isalnum()) else "*" for i, c in enumerate(text))


def mask_value(text: str, entity_type: str, max_chars: int = 40) -> str:
    """Mask a detected value so that it can be shown without revealing it.

    Parameters
    ----------
    text : str
        The detected span.
    entity_type : str
        Presidio entity type of the span.
    max_chars : int
        Longer masks are cut and end in an ellipsis.

    Returns
    -------
    str
        Numbers and codes keep their separators and, from nine characters on, their last
        four (``***-**-6789``); e-mail addresses keep the first letter and the top-level
        domain (``j***@***.com``); other values keep the first letter of each word
        (``J*** S****``). The result never equals ``text`` unless ``text`` has no letters
        or digits.

    Examples
    --------
    >>> mask_value("123-45-6789", "US_SSN")
    '***-**-6789'
    >>> mask_value("John Smith", "PERSON")
    'J*** S****'
    """
    text = "".join(c if c.isprintable() else "?" for c in text)
    if entity_type in _CODE_TYPES:
        masked = _mask_code(text)
    elif entity_type == "EMAIL_ADDRESS" and "@" in text:
        local, _, domain = text.rpartition("@")
        tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
        head = local[:1] if local[:1].isalpha() else "*"
        masked = f"{head}***@***" + (f".{_mask_words(tld)}" if len(tld) > 4 else f".{tld}")
    else:
        masked = _mask_words(text)
    if len(masked) > max_chars:
        masked = masked[: max_chars - 1] + "…"
    return masked
