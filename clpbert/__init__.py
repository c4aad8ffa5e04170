"""clpbert: ClipBERT rebuilt in modern PyTorch, and the experiment manager around it.

The engine (this package) never imports typer or textual; `cli/` and `tui/` sit on top of it.
"""

__version__ = "0.1.0"
