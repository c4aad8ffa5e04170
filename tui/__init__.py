"""The clpbert terminal UI (Textual)."""
