"""The finished bytes of a 200 answer, built once per upstream fetch and then served from the cache.

No HTTP here: which of these bytes a request gets, and with which status and headers, is negotiate.py's.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

import orjson

from stockapi.domain import StockQuery
from stockapi.providers.base import Prices

# Measured on the 15-year daily NVDA answer (217 kB): level 9 (Python's default) 80.4 kB in 25.7 ms of CPU,
# 6 80.6 kB in 17.8 ms, 5 81.0 kB in 9.5 ms, 4 84.4 kB in 5.0 ms, 1 90.0 kB in 2.6 ms. Level 5 keeps the
# size within 1 % of the best for 37 % of the CPU; below it the bytes every later hit sends grow faster.
GZIP_LEVEL = 5


@dataclass(frozen=True, slots=True)
class Body:
    plain: bytes
    gzipped: bytes
    etag: str  # opaque tag; sent weak (W/"..."), as the plain and gzip bytes are one representation
    source: str

    @property
    def size(self) -> int:
        return len(self.plain) + len(self.gzipped)


def document(query: StockQuery, prices: Prices) -> dict:
    """The answer's JSON document (StockResponse in openapi.yaml), before encoding."""
    return {
        "ticker": query.ticker,
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "interval": query.interval,
        "source": prices.source,
        "rows": len(prices),
        "prices": {
            "date": prices.date,
            "open": prices.open,
            "high": prices.high,
            "low": prices.low,
            "close": prices.close,
            "volume": prices.volume,
        },
    }


def render(query: StockQuery, prices: Prices) -> Body:
    # orjson writes the JSON json.dumps(separators=(",", ":")) wrote in a fourteenth of the time: the same
    # bytes, except that a number under 1e-4 reads 0.00001 where json wrote 1e-05 (the same number). NaN
    # would become null instead of an error, but Prices holds finite numbers only.
    plain = orjson.dumps(document(query, prices))
    etag = hashlib.blake2b(plain, digest_size=12).hexdigest()
    # mtime=0 keeps the gzip bytes a function of the content alone.
    return Body(plain, gzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0), etag, prices.source)
