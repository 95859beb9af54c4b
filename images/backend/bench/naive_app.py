"""The benchmark's baseline: the seed's approach, asking the data source and serialising with
`DataFrame.to_json` on every request. Same data source (the sample provider, SAMPLE_LATENCY_MS), same
gunicorn configuration; only the caching and rendering differ."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
from flask import Flask, Response, request

from stockapi.providers.sample import SampleProvider
from stockapi.validation import StockQuery

app = Flask(__name__)
provider = SampleProvider(
    today=lambda: dt.datetime.now(dt.UTC).date(),
    latency_s=int(os.environ.get("SAMPLE_LATENCY_MS", "0")) / 1000,
)


@app.get("/api/stock")
def stock() -> Response:
    query = StockQuery(
        request.args["ticker"],
        dt.date.fromisoformat(request.args["start"]),
        dt.date.fromisoformat(request.args["end"]),
    )
    prices = provider.fetch(query)
    frame = pd.DataFrame(
        {
            "Open": prices.open,
            "High": prices.high,
            "Low": prices.low,
            "Close": prices.close,
            "Volume": prices.volume,
        },
        index=pd.DatetimeIndex(prices.date, name="Date"),
    )
    return Response(
        frame.reset_index().to_json(orient="records", date_format="iso"), mimetype="application/json"
    )
