# The backend (images/backend): the stock price API, its tests, benchmark, load test and dependency lock.

CHECKS += backend

BACKEND_DIR := images/backend
# BACKEND_PORT, like make run's and FRONTEND_PORT; gunicorn itself reads PORT (gunicorn.conf.py).
BACKEND_PORT ?= 5000
STOCK_DATA_SOURCE ?= auto
LOADTEST_URL ?= http://127.0.0.1:$(BACKEND_PORT)/api/stock?ticker=NVDA&start=2010-01-01&end=2025-08-01

.PHONY: backend bench bench-servers loadtest backend-lock check-backend

backend: $(VENV)/.stamp ## Run the API on 127.0.0.1:$BACKEND_PORT (5000) in the foreground; STOCK_DATA_SOURCE=auto unless set
	cd $(BACKEND_DIR) && HOST=127.0.0.1 PORT=$(BACKEND_PORT) STOCK_DATA_SOURCE=$(STOCK_DATA_SOURCE) \
		exec $(BIN)/gunicorn --config gunicorn.conf.py

bench: $(VENV)/.stamp ## Benchmark the API vs a naive and a bare-WSGI server: seed load, distinct keys, slow clients; tables in .out/bench/
	@for tool in hey wrk; do command -v $$tool >/dev/null || { echo "make bench needs $$tool (Debian: apt-get install $$tool)" >&2; exit 2; }; done
	$(PY) $(BACKEND_DIR)/bench/bench.py --out $(OUT)/bench

bench-servers: $(VENV)/.stamp ## Compare WSGI servers running the backend: gunicorn gevent/gthread, granian, waitress (~15 min; needs hey, wrk)
	@for tool in hey wrk; do command -v $$tool >/dev/null || { echo "make bench-servers needs $$tool (Debian: apt-get install $$tool)" >&2; exit 2; }; done
	$(PY) $(BACKEND_DIR)/bench/servers.py --out $(OUT)/bench-servers

# The same script as the cluster's `loadtest` Job, so both keep the hand-in's shape (docs/seed.md).
loadtest: ## The hand-in's load test: 120 rounds of 200 parallel requests at LOADTEST_URL (default: make backend's)
	@curl --silent --output /dev/null --max-time 30 '$(LOADTEST_URL)' || { \
		echo "nothing answers at $(LOADTEST_URL); start the backend first (make backend) or set LOADTEST_URL" >&2; \
		exit 1; }
	$(PYTHON) apps/loadtest/loadtest.py --url '$(LOADTEST_URL)'

backend-lock: $(VENV)/.stamp ## Re-resolve images/backend/requirements.txt (the image's lock) from requirements.in
	cd $(BACKEND_DIR) && $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
		--custom-compile-command "make backend-lock" requirements.in --output-file requirements.txt

check-backend:
	cd $(BACKEND_DIR) && $(BIN)/pytest -q -p no:cacheprovider tests
