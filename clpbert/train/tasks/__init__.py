"""The trainer's side of tasks: `Task` (head, loss, evaluation, metrics) and one module per task
family, each defining its tasks as module constants. A task's one record is its
`clpbert.task_specs.TaskSpec`, which names its `Task` by import path (`trainer=`) and loads it with
`spec_of(name).train_task()`; nothing here lists tasks.
"""

from clpbert.train.tasks.base import EvalContext, LossOutput, Task, lower_is_better

__all__ = ["EvalContext", "LossOutput", "Task", "lower_is_better"]
