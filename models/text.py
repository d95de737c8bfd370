"""Text for the recurrent classifier: a word tokenizer fitted on the training split.

Words are lower-cased runs of letters, digits and apostrophes (plus ``#``/``@`` tags). Ids 0
and 1 are padding and unknown words; the vocabulary is the most frequent words of the training
rows only, so nothing from validation or test leaks into the model. Sequences are
left-padded: the recurrent layer's last step is then the end of the real text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

PAD, UNK = 0, 1
_WORD = re.compile(r"[#@]?[\w']+", re.UNICODE)


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``."""
    return _WORD.findall(str(text).lower())


def fit_vocabulary(texts: Iterable[str], max_size: int = 20_000, min_count: int = 2) -> list[str]:
    """Most frequent words (ties by first appearance), at most ``max_size``, each seen
    ``min_count`` times or more; index ``i`` of the list is token id ``i + 2``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text))
    common = [w for w, c in counts.most_common(max_size) if c >= min_count]
    return common


def encode_texts(texts: Iterable[str], vocabulary: list[str], max_length: int) -> np.ndarray:
    """Token ids ``(n, max_length)`` int64, truncated at the end and left-padded with 0."""
    lookup = {word: index + 2 for index, word in enumerate(vocabulary)}
    texts = list(texts)
    out = np.zeros((len(texts), max_length), dtype=np.int64)
    for row, text in enumerate(texts):
        ids = [lookup.get(w, UNK) for w in words(text)][:max_length]
        if ids:
            out[row, max_length - len(ids) :] = ids
    return out
