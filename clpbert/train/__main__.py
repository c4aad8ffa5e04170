"""`python -m clpbert.train --config RUN_DIR/config.yaml [--resume | --no-resume]`.

Started by torchrun (any --nproc-per-node, multi-node through its rendezvous) or alone (one
process). RUN_DIR is the config file's directory: events.jsonl and checkpoints/ go there.
Exit codes: 0 finished or stopped by a signal (the finish event tells which), 2 a user mistake
(one line on stderr), 1 a crash (traceback); events.jsonl ends with the finish event in all cases.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from clpbert.runs.lifecycle import TrainerStatus


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clpbert.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="RUN_DIR/config.yaml (a resolved config)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", dest="resume", action="store_true", default=None,
                       help="continue from RUN_DIR/checkpoints/latest.json (default: runtime.resume)")
    group.add_argument("--no-resume", dest="resume", action="store_false", help="start from step 0")
    args = parser.parse_args(argv)

    from clpbert.config import load_config
    from clpbert.errors import UserError

    config_path = Path(args.config)
    try:
        cfg = load_config(config_path)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)

    from clpbert.train import distributed
    from clpbert.train.loop import Trainer

    trainer = None
    try:
        trainer = Trainer(cfg, config_path.parent, resume=args.resume)
        status = trainer.run()
        if status == TrainerStatus.STOPPED:
            trainer.events.finish(trainer.step, TrainerStatus.STOPPED,
                                  trainer.stop.signal_name or "stop requested")
        elif status == "time_limit":
            reason = f"time limit {cfg.runtime.time_limit_s:g} s reached"
            trainer.events.finish(trainer.step, TrainerStatus.FINISHED, reason)
        else:
            trainer.events.finish(trainer.step, TrainerStatus.FINISHED, None)
        return 0
    except UserError as e:
        _finish_failed(trainer, config_path.parent, str(e))
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BaseException as e:
        _finish_failed(trainer, config_path.parent, _reason(e))
        raise
    finally:
        if trainer is not None:
            trainer.events.close()
        distributed.cleanup()


def _finish_failed(trainer: Any, run_dir: Path, reason: str) -> None:
    """End events.jsonl with a `failed` finish, also when the trainer never existed (e.g. the
    process group did not form): then rank 0 writes it directly."""
    import os

    if trainer is not None:
        trainer.events.finish(trainer.step, TrainerStatus.FAILED, reason)
        return
    if int(os.environ.get("RANK", "0") or 0) != 0:
        return
    from clpbert.train.events import EventWriter

    w = EventWriter(run_dir)
    w.finish(0, TrainerStatus.FAILED, reason)
    w.close()


if __name__ == "__main__":
    sys.exit(main())
