"""The cache's and the upstream's fixed rules: how long answers stay fresh, how long stale ones may be
served, how the upstream is backed off. Not settings: no environment variable changes them; tests read them.
"""

from __future__ import annotations

# How long an answer stays fresh. A range that ends before the last few days only changes when Yahoo
# re-adjusts history for a dividend or split, so it can be kept for hours; a range that reaches today
# changes all through the trading day. "Recent" covers a weekend plus the date-line offset.
RECENT_DAYS = 4
TTL_RECENT_S = 60
TTL_HISTORICAL_S = 6 * 3600
# An unknown ticker or empty range is remembered briefly, so a typo hammered by a client costs one fetch.
TTL_NEGATIVE_S = 60
# In `auto` mode, sample data served because Yahoo was unreachable; short, so Yahoo is asked again soon.
TTL_FALLBACK_S = 60
# How long after it stops being fresh an answer may still be served when the upstream fails.
STALE_IF_ERROR_S = 24 * 3600
# After the upstream fails, new misses skip it for this long (unless it said otherwise in Retry-After); each
# further failure in a row doubles the back-off, up to the maximum.
UPSTREAM_BACKOFF_S = 30
UPSTREAM_BACKOFF_MAX_S = 300
UPSTREAM_TIMEOUT_S = 10
