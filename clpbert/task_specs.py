"""What each task is, stated once: its preset, the dataset builder that makes its batches, whether
it sees images or videos, and how `clpbert predict` answers with it.

Every other place asks here: `config.preset`/`PRESETS` (the preset), `data.datasets.build_dataset`
(the builder), `data.frame_spec` (image or video, for training, evaluation and predict alike) and
`predict.mode_of` (the predict mode). The trainer's side of a task (model head, loss, evaluation,
metrics) is its `clpbert.train.tasks.Task`, registered under the same name. This module imports no
torch, so the CLI and the TUI can list tasks and resolve presets cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clpbert.errors import ConfigError

if TYPE_CHECKING:
    from clpbert.config import RunConfig, TaskConfig

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

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.dataset, DATASET_KINDS, "dataset"), (self.media, MEDIA, "media"),
                                     (self.predict, PREDICT_MODES, "predict")):
            if value not in allowed:
                raise ValueError(f"task {self.name}: {what}={value!r}; one of {', '.join(allowed)}")

    @property
    def image(self) -> bool:
        return self.media == "image"


SPECS: dict[str, TaskSpec] = {}


def register_spec(spec: TaskSpec) -> TaskSpec:
    """Make `spec` the facts of task `spec.name` (replacing any earlier one); returns it."""
    SPECS[spec.name] = spec
    return spec


def unregister_spec(name: str) -> None:
    """Forget a task (tests that add a toy task remove it again)."""
    SPECS.pop(name, None)


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
    builtins = [
        TaskSpec("pretrain", c._preset_pretrain, dataset="pretrain", media="image", predict="itm"),
        TaskSpec("msrvtt_ret", c._preset_msrvtt_ret, dataset="retrieval", predict="retrieval"),
        TaskSpec("didemo_ret", c._preset_didemo_ret, dataset="retrieval", predict="retrieval"),
        TaskSpec("anet_ret", c._preset_anet_ret, dataset="retrieval", predict="retrieval"),
        TaskSpec("msrvtt_qa", c._preset_msrvtt_qa, dataset="qa", predict="qa"),
        TaskSpec("tgif_qa_action", lambda: tgif("tgif_qa_action", "mc", num_labels=1, num_options=5),
                 dataset="mc", predict="mc"),
        TaskSpec("tgif_qa_transition", lambda: tgif("tgif_qa_transition", "mc", num_labels=1, num_options=5),
                 dataset="mc", predict="mc"),
        TaskSpec("tgif_qa_frameqa",
                 lambda: tgif("tgif_qa_frameqa", "qa", num_labels=1540, min_num_labels=1540),
                 dataset="qa", predict="qa"),
        TaskSpec("msrvtt_mc", c._preset_msrvtt_mc, dataset="mc", predict="mc"),
        TaskSpec("vqa", c._preset_vqa, dataset="qa", media="image", predict="qa"),
        TaskSpec("demo", c._preset_demo, dataset="qa", predict="qa"),
    ]
    added = dict(SPECS)  # tasks registered before the built-ins were loaded come after them
    SPECS.clear()
    for spec in builtins:
        SPECS[spec.name] = spec
    SPECS.update(added)
