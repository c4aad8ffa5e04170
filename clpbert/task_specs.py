"""What each task is, stated once, in one record: its preset, the dataset builder that makes its
batches, whether it sees images or videos, how `clpbert predict` answers with it, and its trainer
side (model head, loss, evaluation, metrics: a `clpbert.train.tasks.Task`).

Every other place asks `spec_of(name)`: `config.preset`/`PRESETS` (the preset),
`data.datasets.build_dataset` (the builder), `data.frame_spec` (image or video, for training,
evaluation and predict alike), `predict.mode_of` (the predict mode) and the trainer
(`spec_of(name).train_task()`). The spec names its `Task` by import path, so this module imports no
torch and the CLI and the TUI can list tasks and resolve presets cheaply.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clpbert.errors import ConfigError

if TYPE_CHECKING:
    from clpbert.config import RunConfig, TaskConfig
    from clpbert.train.tasks import Task

DATASET_KINDS = ("qa", "mc", "retrieval", "pretrain")
"""The builders of `clpbert.data.datasets.build_dataset`: question -> answer label, question ->
one of the options, caption <-> video (ranked at evaluation), image-text pretraining (MLM + ITM)."""
MEDIA = ("video", "image")
PREDICT_MODES = ("qa", "mc", "retrieval", "itm")


@dataclass(frozen=True)
class TaskSpec:
    """One task's facts (see the module docstring)."""

    name: str
    """The config's task.name."""
    preset: Callable[[], RunConfig]
    """A fresh default config of the task (`clpbert run TASK` starts from it)."""
    dataset: str
    """Which `build_dataset` builder makes its data: one of DATASET_KINDS."""
    media: str = "video"
    """`video`, or `image`: one frame per example, (1, 1, 3, L, L), in training, evaluation and predict."""
    predict: str = "qa"
    """How `clpbert predict` answers: one of PREDICT_MODES."""
    trainer: str | Callable[[], Task] | None = None
    """Its `Task` (head, loss, evaluation, metrics): `module:NAME` of the instance (imported only when
    a run trains or evaluates, so listing tasks loads no torch), or a function returning it (code
    outside the package). None: the task cannot be trained or evaluated here."""

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.dataset, DATASET_KINDS, "dataset"), (self.media, MEDIA, "media"),
                                     (self.predict, PREDICT_MODES, "predict")):
            if value not in allowed:
                raise ValueError(f"task {self.name}: {what}={value!r}; one of {', '.join(allowed)}")

    @property
    def image(self) -> bool:
        return self.media == "image"

    def train_task(self) -> Task:
        """The trainer's side of this task (loaded once), or a ConfigError when it has none."""
        if self.name in _TRAIN_TASKS:
            return _TRAIN_TASKS[self.name]
        if self.trainer is None:
            trainable = [s.name for s in SPECS.values() if s.trainer is not None]
            raise ConfigError(f"task.name={self.name!r} has no training task; known: {', '.join(trainable)}")
        if isinstance(self.trainer, str):
            module, _, attr = self.trainer.partition(":")
            task: Any = getattr(importlib.import_module(module), attr)
        else:
            task = self.trainer()
        if task.name != self.name:
            raise ValueError(f"task {self.name}: its trainer {self.trainer!r} is the Task of {task.name!r}")
        _TRAIN_TASKS[self.name] = task
        return task


SPECS: dict[str, TaskSpec] = {}
_TRAIN_TASKS: dict[str, Any] = {}
"""Task name -> its loaded `Task` (TaskSpec.train_task), dropped when the spec is replaced."""


def register_spec(spec: TaskSpec) -> TaskSpec:
    """Make `spec` task `spec.name` (replacing any earlier one); returns it."""
    SPECS[spec.name] = spec
    _TRAIN_TASKS.pop(spec.name, None)
    return spec


def unregister_spec(name: str) -> None:
    """Forget a task (tests that add a toy task remove it again)."""
    SPECS.pop(name, None)
    _TRAIN_TASKS.pop(name, None)


def spec_of(name: str) -> TaskSpec:
    """The facts of task `name`, or a ConfigError naming the closest task."""
    import difflib

    _builtin()
    if name not in SPECS:
        close = difflib.get_close_matches(name, list(SPECS), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown task {name!r}{hint}; known tasks: {', '.join(SPECS)}")
    return SPECS[name]


def task_names() -> list[str]:
    """Every registered task, in registration order (the built-ins first)."""
    _builtin()
    return list(SPECS)


def spec_for(task: TaskConfig) -> TaskSpec:
    """The facts of a config's task; for a name no task registered (a foreign config), what its
    model head implies, as before tasks owned their facts."""
    _builtin()
    if task.name in SPECS:
        return SPECS[task.name]
    if task.head not in DATASET_KINDS:
        from clpbert.errors import UserError

        raise UserError(f"task.head={task.head!r} has no dataset; use pretrain, qa, mc or retrieval")
    kind = task.head
    return TaskSpec(task.name, preset=_no_preset, dataset=kind,
                    media="image" if task.head == "pretrain" else "video",
                    predict="itm" if task.head == "pretrain" else kind)


def _no_preset() -> RunConfig:
    raise ConfigError("this task has no preset")


_loaded = False


def _builtin() -> None:
    """Register the original's tasks and the demo (once; their preset functions, with the numbers of
    the original's configs, are in clpbert.config)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from clpbert import config as c

    tgif = c._preset_tgif
    t = "clpbert.train.tasks."  # where each built-in task's trainer side (`Task`) is
    builtins = [
        TaskSpec("pretrain", c._preset_pretrain, dataset="pretrain", media="image", predict="itm",
                 trainer=t + "pretrain:PRETRAIN"),
        TaskSpec("msrvtt_ret", c._preset_msrvtt_ret, dataset="retrieval", predict="retrieval",
                 trainer=t + "retrieval:MSRVTT_RET"),
        TaskSpec("didemo_ret", c._preset_didemo_ret, dataset="retrieval", predict="retrieval",
                 trainer=t + "retrieval:DIDEMO_RET"),
        TaskSpec("anet_ret", c._preset_anet_ret, dataset="retrieval", predict="retrieval",
                 trainer=t + "retrieval:ANET_RET"),
        TaskSpec("msrvtt_qa", c._preset_msrvtt_qa, dataset="qa", predict="qa", trainer=t + "qa:MSRVTT_QA"),
        TaskSpec("tgif_qa_action", lambda: tgif("tgif_qa_action", "mc", num_labels=1, num_options=5),
                 dataset="mc", predict="mc", trainer=t + "mc:TGIF_QA_ACTION"),
        TaskSpec("tgif_qa_transition", lambda: tgif("tgif_qa_transition", "mc", num_labels=1, num_options=5),
                 dataset="mc", predict="mc", trainer=t + "mc:TGIF_QA_TRANSITION"),
        TaskSpec("tgif_qa_frameqa",
                 lambda: tgif("tgif_qa_frameqa", "qa", num_labels=1540, min_num_labels=1540),
                 dataset="qa", predict="qa", trainer=t + "qa:TGIF_QA_FRAMEQA"),
        TaskSpec("msrvtt_mc", c._preset_msrvtt_mc, dataset="mc", predict="mc", trainer=t + "mc:MSRVTT_MC"),
        TaskSpec("vqa", c._preset_vqa, dataset="qa", media="image", predict="qa", trainer=t + "qa:VQA"),
        TaskSpec("demo", c._preset_demo, dataset="qa", media="video", predict="qa", trainer=t + "demo:DEMO"),
    ]
    added = dict(SPECS)  # tasks registered before the built-ins were loaded come after them
    SPECS.clear()
    for spec in builtins:
        SPECS[spec.name] = spec
    SPECS.update(added)
