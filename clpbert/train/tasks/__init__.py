"""Task registry: `get_task(name)` returns the `Task` registered under a config's task.name.

Importing this package imports every task module below, each of which calls `register_task`.
To add a task, add a module (see `demo.py`, the worked example) and list it here.
"""

from clpbert.train.tasks import demo, mc, pretrain, qa, retrieval  # noqa: F401 - registration
from clpbert.train.tasks.base import (
    TASKS,
    EvalContext,
    LossOutput,
    Task,
    get_task,
    lower_is_better,
    register_task,
)

__all__ = ["TASKS", "EvalContext", "LossOutput", "Task", "get_task", "lower_is_better", "register_task"]
