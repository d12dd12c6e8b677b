"""Every setting, declared once: the job's ``DownloadConfig``, read from ``GATECAM_*`` and flags.

The one table of fields below feeds the Python API (``DownloadConfig(...)``), the environment
(``GATECAM_<FIELD>``), the CLI flags, ``gatecam settings`` and the docs' settings page. Library
code never reads the environment: ``load_settings`` at the CLI edge does.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gatecam.days import DEFAULT_TIMEZONE, zone
from gatecam.errors import InputError, InvalidSetting
from gatecam.model import Target, name_problem

ENV_PREFIX = "GATECAM_"
INTERVAL_MIN = 0.05
RETENTION_MAX = 36_500


def _name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _http_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be fetched from (scheme, host, port), or None."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it names no host"
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError:
        return "the port must be a number from 1 to 65535"
    if parts.netloc.endswith(":"):
        return "the port is missing after ':'"
    if parts.port == 0:
        return "the port must be a number from 1 to 65535"
    return None


def sqlite_url_problem(url: str) -> str | None:
    """Why an SQLite URL cannot hold an archive (no file, or a folder), or None.

    Other URLs and malformed ones are the database layer's to judge when it connects.
    """
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except (ArgumentError, ValueError):
        return None
    if database in (None, "", ":memory:") or "mode=memory" in url:
        return (
            f"{url!r} keeps the database in memory, lost at exit: "
            "an archive needs a file, e.g. sqlite:///data/gatecam.db"
        )
    if database.endswith(("/", os.sep)):
        return f"{url!r} names a folder: add the file's name, e.g. {url}gatecam.db"
    return None


# The site publishes one image every 8 to 12 minutes, day and night, and now and then none
# for an hour: longer than this without a new one, a stream's camera is silent.
SILENT_MINUTES = 90.0


class DownloadConfig(BaseModel):
    """What to archive, where to, and how fast; validated on construction (InputError)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(
        "sqlite:///data/gatecam.db",
        description="SQLAlchemy URL of the database (SQLite file, or PostgreSQL for several hosts)",
    )
    download_dir: Path = Field(Path("data/images"), description="where image files go")
    storage_url: str | None = Field(
        None,
        description="s3://bucket/prefix to keep images in S3-compatible storage; "
        "unset keeps them in download_dir",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 API address for MinIO and other S3-compatible stores"
    )
    terminal: str = Field("apm", description="terminal of the streams given without one")
    streams: list[str] = Field(
        default_factory=lambda: ["in_gate"],
        validation_alias=AliasChoices("streams", "stream_names"),
        description="comma-separated streams, each `stream` or `terminal/stream`",
    )
    # Below 3 s a job would start before the last one listed its page.
    interval_minutes: float = Field(
        10,
        ge=INTERVAL_MIN,
        le=1440,
        allow_inf_nan=False,
        description="minutes between jobs (run), 0.05 to 1440; fractions allowed",
    )
    concurrency: int = Field(8, ge=1, le=64, description="parallel image downloads")
    batch_size: int = Field(100, ge=1, le=1000, description="image rows per database statement")
    site: str = Field(
        "draydog", description="camera site to archive from (gatecam.sources.SITES names them)"
    )
    app_url: str = Field(
        "https://app.draydog.com",
        validation_alias=AliasChoices("app_url", "draydog_app_url"),
        description="Dray Dog camera pages",
    )
    cdn_url: str = Field(
        "https://cdn.draydog.com",
        validation_alias=AliasChoices("cdn_url", "draydog_cdn_url"),
        description="Dray Dog image CDN",
    )
    # A cut-off further back than datetime can reach would fail every run: keep a century.
    retention_days: int | None = Field(
        None,
        ge=1,
        le=RETENTION_MAX,
        description="delete images captured longer ago (1 to 36500 days), files and rows together",
    )
    chromium_path: str = Field("/usr/bin/chromium", description="Debian's Chromium binary")
    page_timeout: float = Field(
        30.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="seconds the camera page may take to list a day",
    )
    web_token: str | None = Field(
        None, description="bearer token the web page and API require (all but /healthz)"
    )
    silent_minutes: float = Field(
        SILENT_MINUTES,
        ge=10,
        le=7 * 24 * 60,
        allow_inf_nan=False,
        description="a stream with no new image for longer is silent (/healthz 503), 10 to 10080",
    )
    timezone: str = Field(
        DEFAULT_TIMEZONE,
        description="IANA zone of every day (midnight to midnight) and of times given "
        "without an offset",
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidSetting(*_first_error(exc)) from None

    @field_validator("streams", mode="before")
    @classmethod
    def _split_streams(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("streams")
    @classmethod
    def _check_streams(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one stream is needed")
        for entry in value:
            parts = entry.split("/")
            if len(parts) > 2:
                raise ValueError(f"{entry!r} is not `stream` or `terminal/stream`")
            for part in parts:
                problem = name_problem(part)
                if problem:
                    raise ValueError(problem if len(parts) == 1 else f"{entry!r}: {problem}")
        return list(dict.fromkeys(value))

    @field_validator("terminal", "site")
    @classmethod
    def _check_names(cls, value: str) -> str:
        return _name(value)

    @field_validator("web_token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        # A blank token would silently turn authentication off: say so instead.
        if value is not None and not value.strip():
            raise ValueError("is empty: set a token, or unset the variable to serve without one")
        # Surrounding blanks (a newline from a token file) could never be sent in a header.
        return value.strip() if value is not None else None

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            zone(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The zone of every day and of every time given without an offset."""
        return zone(self.timezone)

    @field_validator("app_url", "cdn_url", "s3_endpoint_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = _http_url_problem(value)
        if problem:
            raise ValueError(f"{value!r} is not an http(s) URL: {problem}")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database(cls, value: str) -> str:
        problem = sqlite_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("storage_url")
    @classmethod
    def _check_storage(cls, value: str | None) -> str | None:
        if value and not value.startswith("s3://"):
            raise ValueError(f"{value!r} is not an s3://bucket/prefix URL")
        return value or None

    @property
    def targets(self) -> list[Target]:
        """Every (terminal, stream) to archive, in the order given, without repeats."""
        pairs = (
            Target(*entry.split("/", 1)) if "/" in entry else Target(self.terminal, entry)
            for entry in self.streams
        )
        return list(dict.fromkeys(pairs))

    @property
    def stream_names(self) -> list[str]:
        """The public name of ``streams``."""
        return list(self.streams)


# The CLI's flags, where they are not ``--<field-with-dashes>``.
FLAGS = {"interval_minutes": "--interval"}
# Settings with no flag: set once per installation, in the environment.
ENV_ONLY = frozenset(
    {"site", "chromium_path", "web_token", "s3_endpoint_url", "page_timeout", "silent_minutes"}
)
# Environment names kept from earlier releases and common conventions.
ENV_ALIASES = {
    "DATABASE_URL": "database_url",
    "GATECAM_DRAYDOG_APP_URL": "app_url",
    "GATECAM_DRAYDOG_CDN_URL": "cdn_url",
}


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def setting_label(field: str) -> str:
    """How a person gives the setting ``field``: ``--download-dir / GATECAM_DOWNLOAD_DIR``."""
    if field not in DownloadConfig.model_fields:
        return field
    flag = flag_name(field)
    return f"{flag} / {env_name(field)}" if flag else env_name(field)


def flag_name(field: str) -> str | None:
    if field in ENV_ONLY:
        return None
    return FLAGS.get(field, f"--{field.replace('_', '-')}")


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "settings"
    # An error is located at the alias the value came in by (``stream_names``): name the field.
    for name, info in DownloadConfig.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and field in alias.choices:
            field = name
    return field, error["msg"].removeprefix("Value error, ")


def _from_environ(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(field -> value, field -> variable name) of every gatecam variable set."""
    known = {env_name(name): name for name in DownloadConfig.model_fields} | ENV_ALIASES
    unknown = sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        names = sorted(env_name(name) for name in DownloadConfig.model_fields)
        # Compared without the prefix all share, which would make any name look close.
        fields = [name.removeprefix(ENV_PREFIX) for name in names]
        nearest = difflib.get_close_matches(unknown[0].removeprefix(ENV_PREFIX), fields, n=1)
        hint = (
            f"did you mean {ENV_PREFIX}{nearest[0]}?" if nearest else f"known: {', '.join(names)}"
        )
        raise InputError(f"unknown setting {unknown[0]}; {hint}")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    # The current GATECAM_<FIELD> names win over the aliases: they are applied last.
    for variable in [*ENV_ALIASES, *(k for k in known if k not in ENV_ALIASES)]:
        # Other empty variables count as unset; an empty token is kept, to be refused.
        if environ.get(variable) or (known[variable] == "web_token" and variable in environ):
            values[known[variable]] = environ[variable]
            sources[known[variable]] = variable
    return values, sources


def load_settings(environ: Mapping[str, str] | None = None, /, **overrides: Any) -> DownloadConfig:
    """Settings from the environment with flag ``overrides`` (None means "not given") on top.

    Raises InputError naming the flag or variable of any invalid value or unknown variable.
    """
    values, sources = _from_environ(os.environ if environ is None else environ)
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    try:
        return DownloadConfig(**values)
    except InvalidSetting as exc:
        flag = flag_name(exc.field)
        where = flag if exc.field in given and flag else sources.get(exc.field, env_name(exc.field))
        raise InputError(f"{where}: {exc.message}") from None
