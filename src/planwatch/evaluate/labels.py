"""Normalise arrays of labels (directions, target kinds): lower-case, stripped, None → "".

Folding is done once per distinct label and broadcast back through codes, so a million-row array
of a handful of labels costs one hash pass instead of a million string operations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def normalise_labels(labels) -> np.ndarray:
    """Lower-case, stripped string labels with the shape of ``labels`` (None/NaN → "")."""
    arr = np.asarray(labels, dtype=object)
    flat = arr.reshape(-1)
    codes, uniques = pd.factorize(flat, use_na_sentinel=True)
    folded = np.array(["" if u is None else str(u).strip().lower() for u in uniques] + [""], dtype=object)
    # code -1 (None/NaN) picks the trailing "".
    return folded[codes].astype(str).reshape(arr.shape)
