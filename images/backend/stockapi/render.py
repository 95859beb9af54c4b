"""The finished bytes of a 200 answer, built once per upstream fetch and then served from the cache."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass

from stockapi.providers.base import Prices
from stockapi.validation import StockQuery


@dataclass(frozen=True, slots=True)
class Body:
    plain: bytes
    gzipped: bytes
    etag: str  # opaque tag; sent weak (W/"..."), as the plain and gzip bytes are one representation
    source: str

    @property
    def size(self) -> int:
        return len(self.plain) + len(self.gzipped)


def render(query: StockQuery, prices: Prices) -> Body:
    document = {
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
    plain = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    etag = hashlib.blake2b(plain, digest_size=12).hexdigest()
    # mtime=0 keeps the gzip bytes a function of the content alone.
    return Body(plain, gzip.compress(plain, compresslevel=9, mtime=0), etag, prices.source)
