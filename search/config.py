"""Configuration's one home: defaults here, overridden by POLICY_SEARCH_* environment variables and
CLI options (the CLI's options read the same variables through click's `envvar=`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "POLICY_SEARCH_"
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    seeds: Path = Path("seeds")
    index: Path = Path("index")
    reindex_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    watch: bool = True  # `serve` watches the seeds folder


def data_folder() -> Path | None:
    """The folder whose data files (dictionary.txt, synonyms.txt, stopwords.txt, issuers.txt,
    related_words.txt) override the packaged ones: POLICY_SEARCH_DATA, or None."""
    value = os.environ.get(ENV_PREFIX + "DATA", "").strip()
    return Path(value).expanduser() if value else None


def settings_from_env(**overrides: object) -> Settings:
    """Defaults, then environment variables, then explicit non-None overrides (CLI options)."""
    env = os.environ
    values: dict[str, object] = {
        "seeds": Path(env.get(ENV_PREFIX + "SEEDS", "seeds")),
        "index": Path(env.get(ENV_PREFIX + "INDEX", "index")),
        "reindex_token": env.get(ENV_PREFIX + "REINDEX_TOKEN") or None,
        "host": env.get(ENV_PREFIX + "HOST", "127.0.0.1"),
        "port": int(env.get(ENV_PREFIX + "PORT", "8000")),
        "watch": env.get(ENV_PREFIX + "WATCH", "1").strip().lower() not in FALSE_WORDS,
    }
    for key, value in overrides.items():
        if value is not None:
            values[key] = Path(value) if key in ("seeds", "index") else value
    return Settings(**values)  # type: ignore[arg-type]
