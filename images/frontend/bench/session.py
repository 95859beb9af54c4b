"""A Streamlit session without a browser: the websocket protocol a browser tab speaks, enough to load a page.

The browser opens `/_stcore/stream` with the subprotocol `streamlit`, sends a `BackMsg` asking for a script
run with its URL's query string, and receives `ForwardMsg`s: the new session, one delta per element, and
`script_finished`. The server does for this client exactly what it does for a tab (a session, a script
run, its memory); only the drawing in a browser is missing, which a few Playwright sessions add
(bench.py). Used by `make bench-frontend` and the memory test in tests/e2e/test_sessions.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect


@dataclass
class SessionResult:
    # Seconds from opening the websocket to the chart's element arriving (None: no chart came).
    first_chart_s: float | None
    # Seconds until the script run finished.
    finished_s: float | None
    # What went wrong, for the person reading the bench's output; None when the page loaded cleanly.
    error: str | None
    # The elements' types in the order they arrived ("plotly_chart", "text_input", ...).
    elements: list[str] = field(default_factory=list)


def stream_url(base_url: str) -> str:
    return "ws" + base_url.removeprefix("http").rstrip("/") + "/_stcore/stream"


def rerun(query_string: str) -> bytes:
    msg = BackMsg()
    msg.rerun_script.query_string = query_string
    return msg.SerializeToString()


def clear_cache() -> bytes:
    """What the developer menu's "Clear cache" sends; the server honours it from any session."""
    return BackMsg(clear_cache=True).SerializeToString()


async def load_page(
    base_url: str,
    query_string: str,
    *,
    timeout_s: float = 120,
    hold: asyncio.Event | None = None,
    on_loaded: Callable[[], None] | None = None,
    before_close: bytes | None = None,
) -> SessionResult:
    """Open a session, run the page for `query_string`, and time the first chart and the finished run.

    With `hold`, the websocket stays open (the session alive on the server) until the event is set, the way
    a visitor keeps the tab open; `on_loaded` is called when the page has finished loading, `before_close`
    is one more message sent just before closing.
    """
    started = time.monotonic()
    first_chart = finished = None
    problems: list[str] = []
    elements: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            async with connect(stream_url(base_url), subprotocols=["streamlit"], max_size=None) as ws:
                await ws.send(rerun(query_string))
                while finished is None:
                    msg = ForwardMsg.FromString(await ws.recv())
                    kind = msg.WhichOneof("type")
                    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                        element = msg.delta.new_element
                        which = element.WhichOneof("type")
                        elements.append(which)
                        if which == "plotly_chart" and first_chart is None:
                            first_chart = time.monotonic() - started
                        elif which == "exception":
                            error = element.exception
                            problems.append(f"exception {error.type}: {error.message}")
                        elif which == "alert" and element.alert.format in (Alert.ERROR, Alert.WARNING):
                            problems.append(f"alert: {element.alert.body[:200]}")
                    elif kind == "script_finished":
                        finished = time.monotonic() - started
                        if msg.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                            problems.append(f"script finished with status {msg.script_finished}")
                if on_loaded is not None:
                    on_loaded()
                if hold is not None:
                    await hold.wait()
                if before_close is not None:
                    await ws.send(before_close)
    except TimeoutError:
        problems.append(f"no finished page within {timeout_s:.0f} s")
    except OSError as error:
        problems.append(f"connection failed: {error}")
    except Exception as error:  # any protocol failure is one failed session, reported by name
        problems.append(f"{type(error).__name__}: {error}")
    if first_chart is None and not problems:
        problems.append("the page finished without a chart")
    return SessionResult(first_chart, finished, "; ".join(problems) or None, elements)
