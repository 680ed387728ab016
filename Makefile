# Two entry points: `make demo` (the main job on the sample workspace) and `make test` (everything).
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO := build/demo
# Demo-only signing key; real deployments set OUTREACH_SECRET_KEY themselves (see README, Secrets).
DEMO_KEY := demo-key-not-secret-0123456789abcdefghijklmnop
OUT := $(PY) -m outreach -w $(DEMO)
SAMPLE := $(DEMO)/episodes/samples

# openai-whisper without its triton requirement (GPU-only, ~1 GB): the extra brings everything else.
OPENAI_WHISPER := openai-whisper==20250625

.PHONY: demo test install install-test install-openai-whisper system-deps lint clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=25.1'
	$(PY) -m pip install -q -e .
	touch $@

install: $(VENV)/.installed

$(VENV)/.installed-test: $(VENV)/.installed tests/package.json
	$(PY) -m pip install -q --group dev
	$(PY) -m pip install -q -e '.[postgres,openai-whisper]'
	$(PY) -m pip install -q --no-deps '$(OPENAI_WHISPER)'
	cd tests && npm install --no-audit --no-fund --silent
	touch $@

install-test: install $(VENV)/.installed-test system-deps

# The optional openai-whisper engine on its own (install-test includes it).
install-openai-whisper: install
	$(PY) -m pip install -q -e '.[openai-whisper]'
	$(PY) -m pip install -q --no-deps '$(OPENAI_WHISPER)'

# Debian packages the tests use: chromium (browser tests), postgresql (the PostgreSQL tests),
# dovecot-imapd (the bounce mailbox tests read a real IMAP server), nginx-light (the README's
# reverse-proxy example, run in front of `outreach serve`).
APT_NEEDED = $(shell command -v chromium >/dev/null 2>&1 || echo chromium) \
             $(shell ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo postgresql) \
             $(shell [ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ] || echo dovecot-imapd) \
             $(shell [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || echo nginx-light)
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@if [ -n "$(strip $(APT_NEEDED))" ]; then \
	  echo "Installing Debian packages: $(APT_NEEDED)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_NEEDED); \
	fi

demo: install
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	cp -r outreach.toml episodes newsletters templates feeds $(DEMO)/
	$(OUT) init $(DEMO)
	$(OUT) content import $(DEMO)/newsletters/sample-content.yaml
	$(OUT) subscriber import $(DEMO)/newsletters/sample-subscribers.csv --confirmed --source "demo: sample list"
	$(OUT) subscriber list
	$(OUT) episode add $(SAMPLE)/jonatan.opus $(SAMPLE)/karin.opus --mix $(SAMPLE)/mix.opus \
	  --title "Möte i Umeå" --number 1 --published 2023-04-26 \
	  --guest "Karin Ek <karin.ek@umea.example.se>" --named "Karin Ek" \
	  --cover $(SAMPLE)/cover.jpg --chapters $(SAMPLE)/chapters.json --summary $(SAMPLE)/summary.md
	$(OUT) episode normalize mote-i-umea
	$(OUT) episode transcribe mote-i-umea
	$(OUT) transcript list mote-i-umea
	OUTREACH_SECRET_KEY=$(DEMO_KEY) $(OUT) review request mote-i-umea
	$(OUT) review status mote-i-umea
	$(OUT) review accept mote-i-umea
	$(OUT) episode publish mote-i-umea
	$(OUT) episode list
	$(OUT) newsletter compose 2023-04-26
	OUTREACH_SECRET_KEY=$(DEMO_KEY) $(OUT) newsletter send 2023-04-26 --yes
	$(OUT) newsletter status 2023-04-26
	$(OUT) feed build
	@echo
	@echo "Demo workspace: $(DEMO)  (database: $(DEMO)/outreach.db)"
	@echo "The edition: $(DEMO)/newsletters/2023-04-26/ (email.html, email.txt, index.html)"
	@echo "The sent messages (newsletter and the guest's review link): $(DEMO)/newsletters/outbox/*.eml"
	@echo "See the pages: OUTREACH_SECRET_KEY=$(DEMO_KEY) $(OUT) serve  (review link in the outbox mail)"

lint: install-test
	$(PY) -m ruff check outreach tests benchmarks
	$(PY) -m ruff format --check outreach tests benchmarks
	$(PY) -m mypy outreach

test: install-test lint
	$(PY) -m pytest -n 2 --dist loadfile -q

clean:
	rm -rf $(VENV) build tests/node_modules
