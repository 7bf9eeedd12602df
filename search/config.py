"""Configuration's one home: defaults here, overridden by POLICY_SEARCH_* environment variables and
CLI options (the CLI's options read the same variables through click's `envvar=`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import InvalidSetting

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
    # the address readers reach the server at (behind a proxy: the proxy's), for the absolute
    # links a feed holds; None: the address each request came to
    public_url: str | None = None
    # trust a proxy's X-Forwarded-Proto/Host/Port/Prefix/For: only behind one that sets them,
    # since any client can send them
    proxy_headers: bool = False


def data_folder() -> Path | None:
    """The folder whose data files (dictionary.txt, synonyms.txt, stopwords.txt, issuers.txt,
    related_words.txt) override the packaged ones: POLICY_SEARCH_DATA, or None."""
    value = os.environ.get(ENV_PREFIX + "DATA", "").strip()
    return Path(value).expanduser() if value else None


def public_url(value: str) -> str:
    """A public base URL as links are built on it: absolute http(s), without a trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidSetting(
            f"the public URL (--public-url, {ENV_PREFIX}PUBLIC_URL) must be an absolute http:// "
            f"or https:// address such as https://policy.example.org/, not {value!r}"
        )
    return value.strip().rstrip("/")


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(ENV_PREFIX + name, "").strip().lower()
    return default if not value else value not in FALSE_WORDS


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
        "public_url": env.get(ENV_PREFIX + "PUBLIC_URL", "").strip() or None,
        "proxy_headers": _flag("PROXY_HEADERS", Settings.proxy_headers),
    }
    for key, value in overrides.items():
        if value is not None:
            values[key] = Path(value) if key in ("seeds", "index") else value
    if values["public_url"]:
        values["public_url"] = public_url(str(values["public_url"]))
    return Settings(**values)  # type: ignore[arg-type]
