"""The option spec as command-line flags: one flag per option, parsed and checked by the spec itself."""

from __future__ import annotations

import argparse
from dataclasses import fields

from workbench.cli.exits import EXIT_USAGE
from workbench.core.errors import ConfigError
from workbench.spec.config import RunConfig
from workbench.spec.options import Option, shown_in


class Parser(argparse.ArgumentParser):
    """argparse with the workbench's one-line ``error: ...`` (exit code 2) instead of usage + error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message}\n")


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
