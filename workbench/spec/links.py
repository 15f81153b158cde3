"""An experiment as a link: settings in a page's address, ``?backbone=resnet18&freeze_depth=3&lr=0.0003``.

A link carries the options a dashboard page shows, each by its name in the option spec and its value as a person
would type it. It carries settings only, never whose page it is: nothing here writes or reads the page's own
``session``. Read back, every value is parsed and checked as if typed into the form (`Option.parse`,
`Option.check`, the bounds of the link's backbone); a bad one is refused in one line naming it, and the rest
still apply. A dataset is kept as written: whether a page may read it is that page's check, at Launch.
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import urlencode

from workbench.core.errors import ConfigError
from workbench.models.catalogue import DEFAULT_BACKBONE
from workbench.spec.config import ComparisonConfig, RunConfig
from workbench.spec.options import Option, default, parse_seeds, shown_in

MAX_VALUE = 200  # characters: longer is no setting a person typed
MAX_NAMED = 5  # unknown names quoted in the one line that ignores them
NONE = "none"  # how a link writes None, for the options where it means something (every training image)
ON, OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


def linked() -> list[Option]:
    """The options a link carries: those the dashboard shows (the others belong to the command line)."""
    return shown_in("dashboard")


def link_text(o: Option, value) -> str:
    """A value as a person types it, and as `settings_from_query` reads it back: seeds as '0 1 2', a rate in full."""
    if value is None:
        return NONE
    if o.kind == "bool":
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    if isinstance(value, float):
        return repr(value)  # every digit: 0.0003, not show()'s rounded 3e-4
    return str(value)


def settings_query(values: Mapping) -> str:
    """``values`` ({option name: value}) as a query string, in the spec's order; other names are left out."""
    return urlencode([(o.name, link_text(o, values[o.name])) for o in linked() if o.name in values])


def parse_link_value(o: Option, text: str):
    """One value of a link, as the form would take it typed; a one-line `ConfigError` if it cannot be one."""
    if len(text) > MAX_VALUE:
        raise ConfigError(f"{len(text)} characters are longer than any setting (at most {MAX_VALUE})")
    if any(c < " " or c == "\x7f" for c in text):
        raise ConfigError("it holds a line break or another control character")
    word = text.strip().lower()
    if o.none_means is not None and word == NONE:
        return None
    if o.kind == "bool":
        if word not in ON + OFF:
            raise ConfigError(f"{o.name} is on or off, got {text!r}")
        return word in ON
    if o.name == "seeds":
        return parse_seeds(text)
    if o.kind == "text" and not word:
        raise ConfigError(f"{o.name} is empty")
    return o.parse(text.strip())


def settings_from_query(params: Mapping[str, str], current: Mapping | None = None) -> tuple[dict, list[str]]:
    """A link's settings, each parsed and checked: ({option name: value} of those that hold, one line per problem).

    A refused value's line names the setting, why, and what is kept instead (``current``'s value, else the
    option's default); freeze depth and image size are checked against the link's backbone, else ``current``'s.
    Names that are no setting of a page are ignored, together in one line.
    """
    current = current or {}
    values, problems = {}, []
    for o in linked():  # the backbone comes first in the spec: what depends on it is checked against it
        if o.name not in params:
            continue
        try:
            value = parse_link_value(o, str(params[o.name]))
            o.check(value, values.get("backbone", current.get("backbone", DEFAULT_BACKBONE)))
        except ConfigError as exc:
            problems.append(f"the link's {o.name}: {exc}; kept {o.show(current.get(o.name, o.default))}")
            continue
        values[o.name] = value
    unknown = [name for name in params if name not in {o.name for o in linked()}]
    if unknown:
        named = ", ".join(name[:40] for name in unknown[:MAX_NAMED]) + (", …" if len(unknown) > MAX_NAMED else "")
        problems.append(f"the link's {named}: no setting of this page; ignored")
    return values, problems


def run_values(config: Mapping, scratch_lr: float | None = None, seeds: list[int] | None = None) -> dict:
    """A recorded transfer run's settings (``RunRecord.config``) as a link's values; the seeds are its own seed
    unless given. A setting the record lacks (older than the setting) is its default."""
    run = RunConfig.from_dict(dict(config))
    values = {o.name: getattr(run, o.name) for o in linked() if o.scope == "run"}
    values["scratch_lr"] = default("scratch_lr") if scratch_lr is None else scratch_lr
    values["seeds"] = [run.seed] if seeds is None else list(seeds)
    return values


def comparison_values(config: ComparisonConfig) -> dict:
    """A comparison's settings as a link's values: its transfer run's, the scratch rate and the seeds."""
    return run_values(config.transfer.to_dict(), config.scratch_lr, config.seeds)
