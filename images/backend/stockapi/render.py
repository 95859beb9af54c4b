"""The finished bytes of a 200 answer, built once per upstream fetch and then served from the cache.

No HTTP here: which of these bytes a request gets, and with which status and headers, is negotiate.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import xxhash
from isal import igzip

from stockapi.domain import StockQuery
from stockapi.providers.base import Prices

# Measured on four answers (76-428 kB of JSON, 1.03 MB in all; README.md, "A miss is cheap too"): zlib at
# level 5 (what this used before) gave 387 kB in 47 ms of CPU, libdeflate level 1 395 kB in 8 ms, ISA-L's
# igzip level 3 (its best) 410 kB in 3.8 ms. Every miss pays the CPU, so igzip's 12x less CPU is worth its
# 6 % more bytes; a hit only sends them.
GZIP_LEVEL = 3


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
    # would become null instead of an error, but Prices holds finite numbers only. Its numpy arrays are
    # written directly, digit for digit as the same numbers as Python floats and ints.
    plain = orjson.dumps(document(query, prices), option=orjson.OPT_SERIALIZE_NUMPY)
    # mtime=0 keeps the gzip bytes a function of the content alone.
    gzipped = igzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0)
    # The tag hashes the plain bytes, not the gzip ones: ISA-L may compress differently on another CPU, and
    # pods on different nodes must give one answer one tag. XXH3-128 (not cryptographic; a tag only tells
    # versions of our own answers apart) took 0.02 ms for a 227 kB answer here, SHA-256 0.2 ms.
    etag = xxhash.xxh3_128_hexdigest(plain)
    return Body(plain, gzipped, etag, prices.source)
