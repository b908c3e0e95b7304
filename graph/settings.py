"""Typed settings read one way: defaults < a TOML file < ``KGREC_*`` environment variables < explicit overrides.

A settings class is a dataclass whose fields are declared with :func:`setting`: a default, the *cast* that turns
a TOML value or an environment string into the field's type, and a one-line help text. :func:`load` reads the
sources in order, later ones winning, so a deployment can keep a checked-in TOML file and override one value per
environment; :func:`describe` and :func:`markdown_table` document every field from the same declarations.

The casts are named per field, never guessed from annotations. An empty variable (``KGREC_PORT=``) counts as
unset, as a compose file's blank line means. Secrets (``secret=True``) are refused in a TOML
file, so one can be committed safely; they come from the environment (or an explicit override) only. Every error
is a :class:`SettingsError` naming the source (the file, the variable, the command line) and the key.

It sits in graph/, the bottom layer, so any layer's configuration can use it: the server's settings
(api/settings.py), training's config, the local Neo4j server's.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, TypeVar

ENV_PREFIX = "KGREC_"

T = TypeVar("T")
Cast = Callable[[Any], Any]


class SettingsError(ValueError):
    """A setting that cannot be read; the message names the source and the key."""


# ------------------------------------------------------------------------------------------------------------ casts
# Each takes what a TOML file holds (already typed) or what an environment variable holds (a string).


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def to_int(value: Any) -> int:
    if isinstance(value, bool):  # True is an int to Python, not to a user
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


def to_float(value: Any) -> float:
    return float(value)


def to_str(value: Any) -> str:
    return str(value)


def to_path(value: Any) -> Path:
    return Path(value).expanduser()


def to_optional_path(value: Any) -> Path | None:
    """A path, or None for an empty one (``registry = ""`` in a TOML file unsets it)."""
    return to_path(value) if value not in (None, "") else None


def to_str_tuple(value: Any) -> tuple[str, ...]:
    """A TOML list, or a comma-separated string; blanks dropped."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(v).strip() for v in items if str(v).strip())


def list_of(cast: Cast) -> Cast:
    """A cast to a list of `cast`'s type: from a TOML list, or a comma-separated string."""

    def to_list(value: Any) -> list[Any]:
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        return [cast(v.strip() if isinstance(v, str) else v) for v in items if str(v).strip()]

    to_list.__name__ = f"list_of_{cast.__name__}"
    return to_list


# ------------------------------------------------------------------------------------------------------- declaring


def setting(
    default: Any = MISSING,
    *,
    cast: Cast,
    help: str,
    default_factory: Callable[[], Any] | Any = MISSING,
    secret: bool = False,
    env: str | None = None,
    repr: bool = True,
) -> Any:
    """A dataclass field that :func:`load` can read: its `cast`, its `help`, whether it is a `secret`, and `env`,
    the variable's full name where it is not the prefix plus the field's name upper-cased."""
    metadata = {"cast": cast, "help": help, "secret": secret, "env": env}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, repr=repr)
    return dataclasses.field(default=default, metadata=metadata, repr=repr)


def _settings(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The fields :func:`load` reads, by name; a field without a cast is a mistake in the class, said at once."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for f in fields.values():
        if "cast" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with graph.settings.setting(cast=...)")
    return fields


def env_name(f: dataclasses.Field[Any], prefix: str) -> str:
    return f.metadata["env"] or prefix + f.name.upper()


def _cast(f: dataclasses.Field[Any], value: Any, source: str) -> Any:
    try:
        return f.metadata["cast"](value)
    except (TypeError, ValueError) as e:
        raise SettingsError(f"{source}: bad value for {f.name}: {e}") from e


# --------------------------------------------------------------------------------------------------------- reading


def read_toml(path: Path, section: str | None = None) -> dict[str, Any]:
    """The file's keys: under ``[section]`` when the file has that table, else its top level."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(f"cannot read config {path}: {e}") from e
    table = doc.get(section, doc) if section else doc
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [{section}] is not a table")
    return table


def load(
    cls: type[T],
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    prefix: str | None = ENV_PREFIX,
    section: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "command line",
) -> T:
    """An instance of `cls` from its defaults, then the TOML file `config` (its ``[section]`` when it has one),
    then the variables of `env` (``os.environ`` when None) named `prefix` + FIELD (none read when `prefix` is
    None), then the `overrides` that are not None."""
    fields = _settings(cls)
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if config is not None:
        for name, value in read_toml(config, section).items():
            f = fields.get(name)
            if f is None:
                raise SettingsError(f"{config}: unknown setting {name!r}; known: {sorted(fields)}")
            if f.metadata["secret"]:
                where = f"set {env_name(f, prefix)} in the environment" if prefix is not None else "pass it"
                raise SettingsError(f"{config}: {name} is a secret; {where}")
            values[name] = _cast(f, value, str(config))
    if prefix is not None:
        for name, f in fields.items():
            var = env_name(f, prefix)
            if env.get(var, "").strip():
                values[name] = _cast(f, env[var], var)
    for name, value in (overrides or {}).items():
        f = fields.get(name)
        if f is None:
            raise SettingsError(f"{overrides_source}: unknown setting {name!r}")
        if value is not None:
            values[name] = _cast(f, value, overrides_source)
    return cls(**values)


# ------------------------------------------------------------------------------------------------------ describing


@dataclass(frozen=True)
class Described:
    """One setting as a user meets it: the TOML key (None: a secret), the variable, the default, the meaning."""

    name: str
    toml_key: str | None
    env: str | None
    default: Any
    help: str


def describe(cls: type, prefix: str | None = ENV_PREFIX) -> list[Described]:
    """Every setting of `cls`, in declaration order; a default made by a factory is made once, here."""
    out = []
    for name, f in _settings(cls).items():
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        out.append(
            Described(
                name=name,
                toml_key=None if f.metadata["secret"] else name,
                env=env_name(f, prefix) if prefix is not None else None,
                default=None if default is MISSING else default,
                help=f.metadata["help"],
            )
        )
    return out


def toml_literal(value: Any) -> str:
    """`value` as it would be written in the TOML file (or "unset" for None)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def markdown_table(cls: type, prefix: str | None = ENV_PREFIX) -> str:
    """The README's table of `cls`'s settings: TOML key, environment variable (where `prefix` names one),
    default, meaning."""
    env = prefix is not None
    rows = ["| TOML key | Environment | Default | Meaning |" if env else "| TOML key | Default | Meaning |"]
    rows.append("|---|---|---|---|" if env else "|---|---|---|")
    for d in describe(cls, prefix):
        key = f"`{d.toml_key}`" if d.toml_key else "(secret: environment only)"
        unset = d.default is None or (isinstance(d.default, Mapping) and not d.default)
        default = "unset" if unset else f"`{toml_literal(d.default)}`"
        meaning = d.help.replace("|", "\\|")  # a bar would end the cell
        rows.append(
            f"| {key} | `{d.env}` | {default} | {meaning} |" if env else f"| {key} | {default} | {meaning} |"
        )
    return "\n".join(rows) + "\n"
