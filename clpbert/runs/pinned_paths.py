"""The launcher resolves every name in a run's config to an absolute path, once.

`pin_paths(reg, cfg)` runs after the launch checks and before RUN_DIR/config.yaml is written:
data.dataset's registered txt_db / vis_db / tokenizer go into data.txt_db / data.vis_db /
data.tokenizer (explicit paths the user gave are kept, made absolute), and each initial-weights
reference goes into runtime.<name>_path (a file, a folder, or, for `--init RUN`, the run dir, whose
best checkpoint the trainer picks when it starts). The trainer and `clpbert predict` then read
paths from config.yaml and never open the registry to resolve a name; the names stay in the config
for people (`runs show`, compare). A name that resolves to nothing is left for the trainer, which
reports it as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from clpbert.errors import NotFoundError, UserError

if TYPE_CHECKING:
    from clpbert.config import RunConfig
    from clpbert.registry import Registry


def _registered(reg: Registry, name: str) -> tuple[str, str, str] | None:
    from clpbert.train.data import home_dataset_sources

    try:
        row = reg.get_dataset(name)
        return row.txt_db, row.vis_db, row.tokenizer
    except NotFoundError:
        return home_dataset_sources(name)


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute()) if path else path


def pin_dataset_paths(reg: Registry, cfg: RunConfig) -> None:
    """data.txt_db / vis_db / tokenizer: absolute paths of every source the trainer will read."""
    from clpbert.train.data import resolve_sources

    try:
        sources = resolve_sources(cfg, lookup=lambda name: _registered(reg, name))
    except UserError:
        return  # the trainer reports it, as it did before
    d = cfg.data
    d.txt_db = ",".join(_absolute(s.txt_db) for s in sources)
    d.vis_db = ",".join(_absolute(s.vis_db) for s in sources)
    d.tokenizer = ",".join(_absolute(s.tokenizer) for s in sources)


def _init_target(reg: Registry, key: str, ref: str) -> str:
    p = Path(ref).expanduser()
    if p.exists():
        return str(p.absolute())
    try:
        return str(Path(reg.get_checkpoint(ref).path).absolute())
    except NotFoundError:
        pass
    if key == "runtime.init_checkpoint":
        try:
            return str(Path(reg.get_run(ref).run_dir).absolute())
        except NotFoundError:
            pass
    return ""


def pin_init_paths(reg: Registry, cfg: Any) -> None:
    """runtime.init_checkpoint_path / init_cnn_path / init_bert_path from the references."""
    from clpbert.train.init_source import init_refs, pinned_key

    for key, ref in init_refs(cfg).items():
        setattr(cfg.runtime, pinned_key(key), _init_target(reg, key, ref))


def pin_paths(reg: Registry, cfg: RunConfig) -> None:
    """Every dataset and weights name in cfg resolved to an absolute path (cfg is changed)."""
    pin_dataset_paths(reg, cfg)
    pin_init_paths(reg, cfg)
