"""The app's blueprints: `api` (/api/...) and `ops` (health, readiness, metrics)."""
