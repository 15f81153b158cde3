"""The option spec as command-line flags: one flag per option, parsed and checked by the spec itself."""

from __future__ import annotations

import argparse
import difflib
from dataclasses import fields

from workbench.cli.exits import EXIT_USAGE
from workbench.core.errors import ConfigError
from workbench.spec.config import RunConfig
from workbench.spec.options import OPTIONS, Option, shown_in


class Parser(argparse.ArgumentParser):
    """argparse with the workbench's one-line ``error: ...`` (exit code 2) instead of usage + error, and no
    abbreviations, in every subcommand too (its parsers are made of this class): ``--seed 1`` was read as
    ``--seeds 1`` and a 7-minute training started; now it is an error that names ``--seeds``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message}\n")


def known_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The flags ``parser`` takes, with those of the subcommand (and its subcommand) that ``args`` chose."""
    flags = []
    for action in parser._actions:  # argparse has no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            flags += known_flags(chosen, args) if chosen is not None else []
        else:
            flags += action.option_strings
    return flags


def closest_flag(typed: str, flags: list[str]) -> str | None:
    """The flag a mistyped one most likely meant: flags it begins ('--seed': '--seeds'), the spec's option name
    where its flag differs ('--freeze-depth': '--freeze'), else the nearest spelling ('--frezee': '--freeze')."""
    typed = typed.split("=", 1)[0]
    longer = sorted((f for f in flags if f.startswith(typed) and f.startswith("--")), key=len)
    if longer:
        return " or ".join(longer[:3])
    names = {"--" + o.name.replace("_", "-"): o.cli_flag for o in OPTIONS if o.cli_flag in flags}
    close = difflib.get_close_matches(typed, [*flags, *names], n=1, cutoff=0.6)
    return names.get(close[0], close[0]) if close else None


def unrecognized(unknown: list[str], flags: list[str]) -> str:
    """argparse's 'unrecognized arguments' in one line, with the closest known flag for each mistyped one."""
    hints = [(token, hint) for token in unknown if token.startswith("-") and (hint := closest_flag(token, flags))]
    said = " ".join(f"(did you mean {hint}?)" if len(hints) == 1 else f"({token}: did you mean {hint}?)"
                    for token, hint in hints)
    return f"unrecognized arguments: {' '.join(unknown)}" + (f" {said}" if said else "")


def _argument_type(option: Option):
    """argparse ``type``: bad text becomes argparse's one-line error, range checks wait for validate."""

    def parse(text: str):
        try:
            return option.parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.kind
    return parse


def add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    """One option of the spec as a flag; choices and ranges are checked by `RunConfig.validate`."""
    if option.kind == "bool":
        parser.add_argument(option.cli_flag, dest=option.name, action="store_false" if option.default else "store_true",
                            help=option.help)
        return
    shown = f" (default {option.default if option.default is not None else option.none_means})"
    metavar = "{" + ",".join(map(str, option.options_for())) + "}" if option.kind == "choice" else None
    default = option.parse(option.default) if option.name == "seeds" else option.default
    parser.add_argument(option.cli_flag, dest=option.name, type=_argument_type(option), default=default,
                        metavar=metavar, help=option.help + shown)


def add_run_options(parser: argparse.ArgumentParser, scopes: tuple[str, ...] = ("run",)) -> None:
    for option in shown_in("cli"):
        if option.scope in scopes:
            add_option(parser, option)
    parser.add_argument("--runs-dir", default=None, help="run folder (default $WORKBENCH_RUNS or ./runs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def run_config(args: argparse.Namespace, **overrides) -> RunConfig:
    names = {f.name for f in fields(RunConfig)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(overrides)
    return RunConfig(**values)
