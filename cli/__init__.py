"""The clpbert command line (Typer). Thin: every command calls the engine in clpbert/."""
