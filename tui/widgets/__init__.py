"""Widgets of the clpbert TUI, grouped by the screen area they live in."""
