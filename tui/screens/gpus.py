"""Every GPU of this host, live (1 Hz), with the runs that hold each one.

Without a driver this is one clear message (the reason NVML gave), nvitop-style, not an error.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import get_current_worker

from clpbert.gpu.readings import GpuSnapshot
from tui.data import GpuUsers, holders
from tui.widgets.gpu_panel import GpuPanel
from tui.widgets.key_footer import KeyFooter


class GpusScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.seeded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="gpus-header")
        yield VerticalScroll(id="gpus-list")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "GPUs"
        self.reload()
        self.set_interval(self.app.refresh_s, self._tick)

    def _tick(self) -> None:
        if self.is_current:
            self.reload()

    def action_refresh(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="gpus")
    def reload(self) -> None:
        data = self.app.data
        snapshot = data.gpu_snapshot()
        users = data.gpu_users(snapshot)
        history = {}
        if not self.seeded:
            history = data.gpu_history([g.uuid for g in snapshot.gpus if g.uuid])
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, snapshot, users, history)

    def _show(self, snapshot: GpuSnapshot, users: GpuUsers,
              history: dict[str, tuple[list, list]] | None = None) -> None:
        header = self.query_one("#gpus-header", Static)
        listing = self.query_one("#gpus-list", VerticalScroll)
        if snapshot.driver is None or not snapshot.gpus:
            header.update(Text.assemble(("No GPUs to show. ", "bold yellow"), snapshot.reason or "",
                                        "\nRuns still work on CPU; GPU readings show N/A."))
            listing.remove_children()
            return
        busy = sum(1 for g in snapshot.gpus if holders(users, g))
        header.update(f"driver {snapshot.driver} · {len(snapshot.gpus)} GPUs · {busy} used by clpbert runs"
                      f" · backend {snapshot.backend}")
        panels = {p.index: p for p in listing.query(GpuPanel)}
        new = [GpuPanel(g.index, id=f"gpu-{g.index}") for g in snapshot.gpus if g.index not in panels]
        if new:
            listing.mount_all(new)
            panels.update({p.index: p for p in new})
        for gpu in snapshot.gpus:
            if history and gpu.uuid in history:
                panels[gpu.index].seed_history(*history[gpu.uuid])
            runs = holders(users, gpu)
            label = "runs " + ", ".join(runs) if runs else "free"
            panels[gpu.index].update_reading(gpu, runs=label)
        self.seeded = True
