"""The floor for `make bench-frontend`: a bare Streamlit page with one Plotly candlestick of the same bars the
dashboard draws by default (one ticker, one year of daily bars from the same backend), and nothing else.

Whatever this page costs is Streamlit's and Plotly's; what the dashboard costs beyond it is ours. Its chart
has the dashboard's size (wide page, 580 px high), as in the issue's measurement: a browser draws and paints
per pixel, so a smaller floor would flatter it; otherwise it keeps Plotly's defaults.
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import plotly.graph_objects as go
import requests
import streamlit as st


@st.cache_resource(max_entries=1000)
def bars(ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    response = requests.get(
        f"{os.environ['BACKEND_URL']}/api/stock",
        params={"ticker": ticker, "start": start.isoformat(), "end": end.isoformat(), "interval": "1d"},
        timeout=30,
    )
    response.raise_for_status()
    return pd.DataFrame(response.json()["prices"])


st.set_page_config(layout="wide")
today = dt.date.today()
ticker = st.query_params.get("tickers", "NVDA")
prices = bars(ticker, (pd.Timestamp(today) - pd.DateOffset(years=1)).date(), today)
st.plotly_chart(
    go.Figure(
        go.Candlestick(
            x=prices["date"],
            open=prices["open"],
            high=prices["high"],
            low=prices["low"],
            close=prices["close"],
            name=ticker,
        ),
        layout={"height": 580},
    )
)
