"""Model tests run torch single-threaded: on a shared 2-core box, two spinning intra-op threads per
process made the same tests ~3x slower (CPU and wall) than one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
