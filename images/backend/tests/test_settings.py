"""Settings from the environment: defaults, and a clear message naming a bad variable."""

from __future__ import annotations

import pytest

from stockapi import create_app
from stockapi.settings import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert (settings.data_source, settings.sample_latency_ms, settings.cache_max_bytes) == (
        "yahoo",
        0,
        64 << 20,
    )


def test_values_are_read():
    settings = Settings.from_env(
        {"STOCK_DATA_SOURCE": " Auto ", "SAMPLE_LATENCY_MS": "500", "CACHE_MAX_MB": "8"}
    )
    assert (settings.data_source, settings.sample_latency_ms, settings.cache_max_bytes) == (
        "auto",
        500,
        8 << 20,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STOCK_DATA_SOURCE": "google"}, "STOCK_DATA_SOURCE"),
        ({"SAMPLE_LATENCY_MS": "fast"}, "SAMPLE_LATENCY_MS"),
        ({"SAMPLE_LATENCY_MS": "-1"}, "SAMPLE_LATENCY_MS"),
        ({"CACHE_MAX_MB": "1e9"}, "CACHE_MAX_MB"),
    ],
)
def test_bad_values_are_named(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_sample_source_never_loads_yfinance(tmp_path):
    app = create_app(Settings(data_source="sample", yfinance_cache_dir=tmp_path / "yf"))
    service = app.extensions["stockapi.service"]
    assert (service.primary.name, service.fallback) == ("sample", None)


def test_auto_source_is_yahoo_with_a_sample_fallback(tmp_path):
    app = create_app(Settings(data_source="auto", yfinance_cache_dir=tmp_path / "yf"))
    service = app.extensions["stockapi.service"]
    assert (service.primary.name, service.fallback.name) == ("yahoo", "sample")
    assert (tmp_path / "yf").is_dir()


def test_create_app_rejects_a_misspelled_collaborator(tmp_path):
    # With **services, `servce=` was silently ignored and the app quietly built its own service.
    with pytest.raises(TypeError, match="servce"):
        create_app(Settings(data_source="sample", yfinance_cache_dir=tmp_path / "yf"), servce=object())
