"""Saved evaluation predictions: one Parquet file per evaluation, one row per example.

Why Parquet: columnar and compressed (100k QA rows are a few MiB), typed (lists of top-5 answers and
scores stay lists), and pyarrow reads only the columns a view needs, in milliseconds.

    schema.py    the record schema shared by the trainer, `clpbert runs predictions`, the TUI and
                 `clpbert predict --json` (pure Python, no torch)
    store.py     RUN_DIR/predictions/step<N>-<split>.parquet: write, read, retention (keep_last)
    analysis.py  metrics recomputed from a file (accuracy per type, R@k / MdR), filters, flips
"""
