"""The application layer: one function per user-visible behaviour that both front-ends offer, so the
CLI (`cli/`, parsing and printing) and the TUI (`tui/data.py`, view records) cannot drift apart.

compare.py (runs side by side, config differences, runs by tag), export.py (metrics and evals as
CSV or JSON) and datasets.py (verify a registered dataset). Each returns plain data.
"""
