"""--set items for tiny models, written once: the sizes every test shares, and each suite's list as
those plus its own additions (a demo-sized run through the CLI, a run-manager run, a task trained
in-process). Each list keeps exactly the items its tests always used."""

from __future__ import annotations

TINY_NET = ["model.num_layers=1", "model.hidden_size=32", "model.num_heads=2", "model.intermediate_size=64",
            "model.classifier_hidden=32", "model.cnn_width=8"]
"""The smallest ClipBERT every code path accepts (the CNN keeps the preset's blocks)."""

TINY_MODEL = [*TINY_NET, "data.max_img_size=64"]
"""TINY_NET on 64-pixel frames."""

TINY_CNN = ["model.cnn_blocks=1,1,1,1"]
"""One block per CNN stage."""

TINY_CLI_RUN = [*TINY_MODEL, "data.batch_size=4", "data.max_eval_examples=8", "runtime.log_every=1"]
"""A demo run started with `clpbert run|demo --set ...` (tests/cli)."""

TINY_MANAGED_RUN = [*TINY_CLI_RUN, "data.inference_batch_size=8", "runtime.num_threads=1"]
"""A run the run manager launches (the TUI's new-run dialog; tests/runs adds time_limit_s=0)."""

TINY_TASK = [*TINY_MODEL, *TINY_CNN, "model.max_position_embeddings=64", "model.max_grid_size=16",
             "model.cnn_norm=bn", "model.cnn_freeze_at=0", "data.batch_size=4", "data.inference_batch_size=8",
             "data.num_workers=0", "data.max_txt_len=12", "data.train_n_clips=2", "data.num_frm=1",
             "runtime.num_threads=1", "runtime.log_every=1",
             "runtime.init_checkpoint=none"]  # tiny models start from random weights (`--init none`)
"""Any task's preset trained in-process on tiny data (tests/train)."""
