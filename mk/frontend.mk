# The frontend (images/frontend): the Streamlit dashboard, its tests and its dependency lock.

CHECKS += frontend e2e

FRONTEND_DIR := images/frontend
FRONTEND_PORT ?= 8501
BACKEND_URL ?= http://127.0.0.1:5000

.PHONY: frontend e2e bench-frontend frontend-lock check-frontend check-e2e

frontend: $(VENV)/.stamp ## Run the dashboard on 127.0.0.1:8501 in the foreground (BACKEND_URL, default http://127.0.0.1:5000)
	cd $(FRONTEND_DIR) && BACKEND_URL=$(BACKEND_URL) exec $(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port $(FRONTEND_PORT)

e2e: $(VENV)/.stamp check-e2e ## Browser test: real backend + frontend, Chromium via Playwright; screenshot in .out/e2e/

bench-frontend: $(VENV)/.stamp ## Time to first chart for 1 and 50 visitors vs a bare Streamlit page, peak RSS (~5 min)
	@command -v chromium >/dev/null || { echo "make bench-frontend needs Debian's chromium (apt-get install chromium)" >&2; exit 2; }
	$(PY) $(FRONTEND_DIR)/bench/bench.py --chromium "$$(command -v chromium)" --out $(OUT)/bench-frontend

frontend-lock: $(VENV)/.stamp ## Re-resolve images/frontend/requirements.txt (the image's lock) from requirements.in
	cd $(FRONTEND_DIR) && $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
		--custom-compile-command "make frontend-lock" requirements.in --output-file requirements.txt

# Unit tests of the package and AppTest tests of the page, without a browser or a backend.
check-frontend:
	cd $(FRONTEND_DIR) && $(BIN)/pytest -q -p no:cacheprovider --ignore=tests/e2e tests

check-e2e:
	mkdir -p $(OUT)/e2e
	cd $(FRONTEND_DIR) && E2E_OUT=$(OUT)/e2e $(BIN)/pytest -q -p no:cacheprovider tests/e2e
