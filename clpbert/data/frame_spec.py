"""How a run's frames are sampled and sized, for training, evaluation and `clpbert predict` alike.

`frame_spec(cfg, train)` is the one rule: the sampling plan of cfg's head (`plan_sampling`), the
frame size L, and, for an image task (`TaskSpec.media == "image"`: pretraining, VQA), one frame,
(1, 1, 3, L, L). `build_dataset` and `predict.inputs` both call it, so predictions see exactly the
frames the model was evaluated on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from clpbert.data.sampling import SamplingPlan, plan_sampling

if TYPE_CHECKING:
    from clpbert.config import RunConfig


@dataclass(frozen=True)
class FrameSpec:
    """How frames are sampled and sized for one model: the plan and L (part of predict's cache key)."""

    plan: SamplingPlan
    size: int
    image_model: bool
    """Image tasks (pretrain, vqa) take one frame: (1, 1, 3, L, L)."""

    def key(self) -> dict[str, object]:
        p = self.plan
        return {"L": self.size, "fps": p.target_fps, "T": p.num_frm, "N": p.n_clips, "mode": p.mode,
                "image_model": self.image_model}


def frame_spec(cfg: RunConfig, train: bool = False) -> FrameSpec:
    """The training (train=True) or evaluation sampling of cfg's task."""
    from clpbert.task_specs import spec_for

    d = cfg.data
    image = spec_for(cfg.task).image
    plan = plan_sampling(train=train, head=cfg.task.head, num_frm=d.num_frm, fps=d.fps,
                         train_n_clips=d.train_n_clips, inference_n_clips=d.inference_n_clips,
                         strategy=d.frm_sampling_strategy)
    if image:
        plan = SamplingPlan(1, 1, plan.target_fps, "start")
    return FrameSpec(plan=plan, size=d.max_img_size, image_model=image)
