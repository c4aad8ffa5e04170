"""Screens of the clpbert TUI, one per module."""
