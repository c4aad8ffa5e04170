"""Check a registered checkpoint file against its registered sha256 (the TUI's `v` key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clpbert.registry import Checkpoint


def verify_checkpoint(ck: Checkpoint) -> tuple[bool, str]:
    """(ok, one line): the file's sha256 equals the registered one (or none was registered)."""
    from clpbert.registry.checksum import sha256_file

    digest, size = sha256_file(ck.path)
    if ck.sha256 and digest != ck.sha256:
        return False, (f"checkpoint {ck.name}: sha256 mismatch (file {digest[:12]}, "
                       f"registered {ck.sha256[:12]})")
    return True, f"checkpoint {ck.name}: OK (sha256 {digest[:12]}, {size:,} bytes)"
