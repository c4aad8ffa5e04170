"""`clpbert config show|keys`: the resolved run configuration and the keys `--set` accepts."""

from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonFlag

group = typer.Typer(help="Run configurations: presets, files, overrides.", no_args_is_help=True)


@group.command("show")
def show_cmd(
    task: Annotated[str, typer.Option(help="Task preset, e.g. msrvtt_qa, msrvtt_ret, pretrain, demo.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file over the preset.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override KEY=VALUE (repeatable), "
                                                   "e.g. --set optim.lr=1e-4.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Registered dataset: count its "
                                                "training groups for the step arithmetic.")] = None,
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="Processes (GPUs x nodes) to plan the "
                                      "global batch for.")] = 1,
    json_: JsonFlag = False,
) -> None:
    """Print the config a run would use: preset < file < CLPBERT_<SECTION>__<KEY> env < --set.

    The global batch and step arithmetic (the original's formula) go to stderr.
    """
    from cli.output import print_json
    from clpbert.app.runs import adapt_global_batch, launch_summary
    from clpbert.config import dump_yaml, preset, resolve_config

    cfg = resolve_config(task, config_file=config, sets=set_ or (), flags={"data.dataset": dataset})
    adapt_global_batch(cfg, gpus, preset(cfg.task.name))
    for line in launch_summary(cfg, gpus):
        typer.echo(line, err=True)
    if json_:
        print_json(cfg.to_dict())
    else:
        typer.echo(dump_yaml(cfg), nl=False)


@group.command("keys")
def keys_cmd(json_: JsonFlag = False) -> None:
    """List every key that --set and config files accept."""
    from cli.output import print_json
    from clpbert.config import valid_keys

    keys = valid_keys()
    if json_:
        print_json(keys)
    else:
        typer.echo("\n".join(keys))


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="config")
