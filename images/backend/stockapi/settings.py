"""Settings from the environment, read once at start-up; a bad value stops the start with a clear message."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_SOURCES = ("yahoo", "sample", "auto")


class SettingsError(ValueError):
    """An environment variable has a value the backend cannot use."""


@dataclass(frozen=True)
class Settings:
    data_source: str = "yahoo"
    sample_latency_ms: int = 0
    cache_max_bytes: int = 64 * 1024 * 1024
    yfinance_cache_dir: Path = Path(tempfile.gettempdir()) / "stockapi-yfinance"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        source = env.get("STOCK_DATA_SOURCE", cls.data_source).strip().lower()
        if source not in DATA_SOURCES:
            raise SettingsError(f"STOCK_DATA_SOURCE must be one of {', '.join(DATA_SOURCES)}, not {source!r}")
        return cls(
            data_source=source,
            sample_latency_ms=_int(env, "SAMPLE_LATENCY_MS", cls.sample_latency_ms, maximum=60_000),
            cache_max_bytes=_int(env, "CACHE_MAX_MB", cls.cache_max_bytes >> 20, maximum=65_536) << 20,
            yfinance_cache_dir=Path(env.get("YFINANCE_CACHE_DIR") or cls.yfinance_cache_dir),
        )


def _int(env: Mapping[str, str], name: str, default: int, *, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if not 0 <= value <= maximum:
        raise SettingsError(f"{name} must be between 0 and {maximum}, not {value}")
    return value
