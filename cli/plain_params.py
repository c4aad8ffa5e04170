"""Coerce simple option values without pydantic, so a command's start-up does not import it.

Typer (0.2x) coerces every parameter value through a pydantic TypeAdapter built on first use;
importing pydantic and building the adapters cost a read command like `clpbert runs list` about
half of its wall time. clpbert's options are nearly all str, int, float or bool (optional, or a
repeatable list of them, with an optional min/max): `install()` makes Typer build a plain coercion
for those, with the same results and click-style error messages. Anything else (paths, enums,
files, tuples) keeps Typer's own coercion. If a Typer release renames the private names used here
(`typer.core.build_runtime_param`, `typer._coercion.RuntimeParam`), nothing is replaced and
behaviour is unchanged (only slower);
tests/cli/test_app.py checks that `runs list` does not import pydantic.
"""

from __future__ import annotations

import types
import typing
from typing import Any

BOOL_WORDS = {"1": True, "true": True, "t": True, "yes": True, "y": True, "on": True,
              "0": False, "false": False, "f": False, "no": False, "n": False, "off": False}
TYPE_NAMES = {int: "integer", float: "float", bool: "boolean", str: "string"}


def _simple(annotation: Any) -> tuple[type, bool] | None:
    """(scalar type, is a list) for str/int/float/bool, X | None and list[X]; None otherwise."""
    if annotation in TYPE_NAMES:
        return annotation, False
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _simple(rest[0]) if len(rest) == 1 else None
    if origin is list and len(args) == 1 and args[0] in TYPE_NAMES:
        return args[0], True
    return None


def _convert(kind: type, value: Any, lo: Any, hi: Any) -> Any:
    """The value as `kind`; ValueError with a click-style message when it is not one."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        out = value
    elif kind is bool:
        word = str(value).strip().lower()
        if word not in BOOL_WORDS:
            raise ValueError(f"{value!r} is not a valid boolean.")
        out = BOOL_WORDS[word]
    else:
        try:
            out = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a valid {TYPE_NAMES[kind]}.") from None
    if kind in (int, float) and ((lo is not None and out < lo) or (hi is not None and out > hi)):
        bounds = " and ".join(s for s in (f"x>={lo}" if lo is not None else "",
                                          f"x<={hi}" if hi is not None else "") if s)
        raise ValueError(f"{out} is not in the range {bounds}.")
    return out


def _runtime_param(descriptor: Any) -> Any | None:
    """A Typer RuntimeParam doing plain coercion for `descriptor`, or None to keep Typer's."""
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam

    info = descriptor.parameter_info
    simple = _simple(descriptor.annotation)
    if simple is None or descriptor.is_file or descriptor.is_path or descriptor.is_choice:
        return None
    if getattr(info, "clamp", False) or getattr(info, "parser", None) or getattr(info, "click_type", None):
        return None
    kind, is_list = simple

    class PlainRuntimeParam(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                if is_list:
                    items = value if isinstance(value, (list, tuple)) else [value]
                    return [_convert(kind, v, info.min, info.max) for v in items]
                return _convert(kind, value, info.min, info.max)
            except ValueError as e:
                raise BadParameter(str(e), ctx=ctx, param=param) from None

    return PlainRuntimeParam(parameter_info=info, annotation=descriptor.annotation)


def install() -> None:
    """Route Typer's per-parameter coercion through `_runtime_param` first (once per process)."""
    import typer.core

    typer_build = getattr(typer.core, "build_runtime_param", None)
    if typer_build is None or getattr(typer_build, "clpbert_plain", False):
        return

    def build_runtime_param(descriptor: Any) -> Any:
        try:
            plain = _runtime_param(descriptor)
        except (ImportError, AttributeError, TypeError):
            plain = None
        return plain if plain is not None else typer_build(descriptor)

    build_runtime_param.clpbert_plain = True  # type: ignore[attr-defined]
    typer.core.build_runtime_param = build_runtime_param
