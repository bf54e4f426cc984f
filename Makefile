# scratch-katas: every target is a thin wrapper over `python -m grader` (see grader/cli.py).
# The first target that needs Python creates .venv and installs requirements.txt into it, once.
#
#   make grade                      score exercises/ (impl=solutions or impl=DIR for another folder)
#   make test topic=adam            run a topic's public tests (suite=all adds the hidden ones)
#   make hint topic=adam [n=2]      the next hint, or hints 1..n
#   make diff topic=adam            your file against the reference
#   make stubs                      regenerate exercises/ from solutions/ (backs up what it replaces)
#   make check                      the project's own tests (what CI runs); topic=T: only T's suites
#   make lint                       ruff's lint and format checks (part of make check)
#   make margins [topic=adam]       the share of its tolerance correct code uses, per test
#   make release out=DIR            the copy a class receives (no solutions, no hidden tests)
#   make grade-class submissions=DIR out=DIR [jobs=2]   grade a class, each submission sandboxed
#   make gradescope                 build autograder.zip for Gradescope
#   make bench topic=bpe            a topic's benchmark (bench/<topic>.py)
#   make demo topic=rnn             a topic's demonstration on your functions (demos/<topic>.py)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.kata-ready

topic ?=
impl  ?= exercises
suite ?=
n     ?=

.PHONY: grade-class gradescope grade test hint diff stubs check lint margins release topics setup clean-venv bench demo

$(READY): requirements.txt
	@$(PYTHON) grader/setup_venv.py

setup: $(READY)

grade: $(READY)
	@$(PY) -m grader grade --impl "$(impl)" $(if $(suite),--suite $(suite)) $(if $(json),--json)

test: $(READY)
	@$(PY) -m grader test $(topic) --impl "$(impl)" $(if $(suite),--suite $(suite))

hint: $(READY)
	@$(PY) -m grader hint $(topic) $(if $(n),--n $(n))

diff: $(READY)
	@$(PY) -m grader diff $(topic) --impl "$(impl)"

stubs: $(READY)
	@$(PY) -m grader stubs

release: $(READY)
	@$(PY) -m grader release "$(out)"

topics: $(READY)
	@$(PY) -m grader topics

check: $(READY)
	@$(PY) -m grader check $(if $(topic),--topics $(topic))

lint: $(READY)
	@$(PY) -m grader lint

margins: $(READY)
	@$(PY) -m grader margins $(topic)

grade-class: $(READY)
	@$(PY) -m grader grade "$(submissions)" --out "$(out)" --jobs $(or $(jobs),2) $(if $(timeout),--timeout $(timeout)) $(if $(topic),--topics $(topic))

gradescope: $(READY)
	@$(PY) -m grader gradescope $(or $(out),autograder.zip)

bench: $(READY)
	@$(PY) -m grader bench $(topic) $(if $(filter command line,$(origin impl)),-- --impl "$(impl)")

demo: $(READY)
	@$(PY) -m grader demo $(topic) --impl "$(impl)"

clean-venv:
	rm -rf $(VENV)
