"""Cut the bank marketing contacts, in time order, into the tables of two gate runs.

    python examples/bank_marketing/prepare.py

Rows are in contact order (May 2008 - Nov 2010). The cut:
  champion_train   rows      0-15,999  what the first champion is trained on (bootstrap run)
  bootstrap_batch  rows 16,000-19,999  the labels that arrived before the bootstrap run
  train            rows      0-19,999  = the champion's training data, for the next run
  new_labels       rows 20,000-29,999  a later labelled batch: the retraining request
  evaluation       rows 30,000-41,187  the latest window: both models are scored here

The files are committed, so `gatekeeper run` works on a fresh clone; this script rebuilds
them byte for byte from the shipped copy of the data set and checks its sha256 first.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "data" / "bank-additional-full.csv.gz"
SHA256 = "83289c608576b1fdb46ad485853f2fb3636f7dde869f1ec262a0bf84fbb1132e"  # of the plain CSV
CUTS = {
    "champion_train": (0, 16_000),
    "bootstrap_batch": (16_000, 20_000),
    "train": (0, 20_000),
    "new_labels": (20_000, 30_000),
    "evaluation": (30_000, None),
}


def main() -> None:
    raw = gzip.decompress(SOURCE.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{SOURCE} does not hold the expected data (sha256 {digest}, expected {SHA256})")
    frame = pd.read_csv(SOURCE, sep=";")
    for name, (start, stop) in CUTS.items():
        part = frame.iloc[start:stop]
        path = HERE / "data" / f"{name}.csv.gz"
        part.to_csv(path, sep=";", index=False, compression={"method": "gzip", "mtime": 0})
        print(
            f"{name:16s} rows {start:>6,}-{start + len(part) - 1:>6,}  positive rate "
            f"{part['y'].mean():.3f}  -> {path.relative_to(HERE.parents[1])}"
        )


if __name__ == "__main__":
    main()
