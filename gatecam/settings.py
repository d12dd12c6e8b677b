"""Every setting, declared once: read from ``GATECAM_*`` variables and overridden by flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gatecam.errors import InputError
from gatecam.sources.base import NAME_PATTERN

ENV_PREFIX = "GATECAM_"


class Settings(BaseSettings):
    """gatecam's configuration; the CLI builds one and passes it down."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    database_url: str = Field(
        "sqlite:///data/gatecam.db",
        validation_alias=AliasChoices("database_url", "GATECAM_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL of the database (SQLite file or PostgreSQL server)",
    )
    download_dir: Path = Field(Path("data/images"), description="where image files are archived")
    draydog_app_url: str = Field("https://app.draydog.com", description="Dray Dog web app")
    draydog_cdn_url: str = Field("https://cdn.draydog.com", description="Dray Dog image CDN")
    interval_minutes: int = Field(10, gt=0, description="minutes between download jobs")
    terminal: str = Field("apm", description="terminal whose cameras are archived")
    streams: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["in_gate"], description="comma-separated camera streams"
    )
    concurrency: int = Field(8, ge=1, le=64, description="parallel image downloads")
    batch_size: int = Field(100, ge=1, le=1000, description="image rows per database batch")
    chromium_path: str = Field("/usr/bin/chromium", description="headless Chromium binary")
    retention_days: int | None = Field(
        None, ge=1, description="delete images captured longer ago; unset keeps everything"
    )

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
        for name in value:
            if not NAME_PATTERN.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid name (only a-z, 0-9, _ and -)")
        return list(dict.fromkeys(value))

    @field_validator("terminal")
    @classmethod
    def _check_terminal(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid name (only a-z, 0-9, _ and -)")
        return value

    @field_validator("draydog_app_url", "draydog_cdn_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


# Flags whose name is shorter than the setting's.
FLAGS = {
    "interval_minutes": "--interval",
    "draydog_app_url": "--app-url",
    "draydog_cdn_url": "--cdn-url",
}


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def flag_name(field: str) -> str:
    return FLAGS.get(field, f"--{field.replace('_', '-')}")


def settings_from_flags(flags: Mapping[str, Any]) -> Settings:
    """Settings from a command's parameters, named as its flags (``interval``, ``app_url``).

    Parameters that are not settings (``date_``, ``verbose``, ...) are ignored.
    """
    fields = {flag[2:].replace("-", "_"): field for field, flag in FLAGS.items()}
    overrides = {fields.get(name, name): value for name, value in flags.items()}
    return load_settings(**{k: v for k, v in overrides.items() if k in Settings.model_fields})


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment with flag ``overrides`` (None means "not given") on top.

    Raises InputError naming the setting for any invalid value or unknown GATECAM_ variable.
    """
    known = {env_name(name) for name in Settings.model_fields}
    unknown = sorted(k for k in os.environ if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise InputError(f"unknown setting {unknown[0]} (known: {', '.join(sorted(known))})")
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        if field == "GATECAM_DATABASE_URL":
            field = "database_url"
        source = flag_name(field) if field in given else env_name(field)
        message = error["msg"].removeprefix("Value error, ")
        raise InputError(f"{source}: {message}") from None
