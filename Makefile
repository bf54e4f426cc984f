# scratch-katas: every target is a thin wrapper over `python -m grader` (see grader/cli.py).
# The first target that needs Python creates .venv and installs requirements.txt into it, once.
#
#   make grade                      score exercises/ (impl=solutions or impl=DIR for another folder)
#   make test topic=adam            run a topic's public tests (suite=all adds the hidden ones;
#                                   first=1 stops at the first failure, only=NAME runs matching tests, raw=1 pytest's report)
#   make watch [topic=adam]         re-run the public tests each time you save (no topic: the next unfinished one)
#   make next                       the recommended next topic, its file and its first hint
#   make reset topic=adam           the stub back in exercises/ (your file is backed up in .kata/backups/ first)
#   make solution topic=adam        the reference (asks first, or yes=1; `make grade` marks it viewed)
#   make hint topic=adam [n=2]      the next hint, or hints 1..n; reset=1 starts again from hint 1
#   make diff topic=adam            your file against the reference (asks first, or yes=1; recorded as a reveal)
#   make stubs                      regenerate exercises/ from solutions/ (backs up what it replaces)
#   make check                      the project's own tests (what CI runs); topic=T: only T's suites
#   make lint                       ruff's lint and format checks (part of make check)
#   make margins [topic=adam]       the share of its tolerance correct code uses, per test
#   make release out=DIR            the copy a class receives (no solutions, no hidden tests)
#   make release out=DIR classroom=1   ... with GitHub Classroom's autograding workflow
#   make grade-class submissions=DIR out=DIR [jobs=2]   grade a class, each submission sandboxed
#   make gradescope                 build autograder.zip for Gradescope
#   make nbgrader out=DIR           an nbgrader course of every topic (installs nbgrader into .venv once)
#   make notebooks [out=DIR]        the learners' notebooks, no solutions (default notebooks/; never overwrites)
#   make bench topic=bpe            a topic's benchmark (bench/<topic>.py) on your file (impl=solutions: the reference)
#   make bench topic=watch          how soon `make watch` reports, per topic, next to a cold `make test`
#   make demo topic=rnn             a topic's demonstration on your functions (demos/<topic>.py)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.kata-ready

topic ?=
impl  ?= exercises
suite ?=
n     ?=

.PHONY: grade-class gradescope grade test hint diff stubs check lint margins release topics setup clean-venv bench demo \
	watch next reset solution nbgrader notebooks

$(READY): requirements.txt
	@$(PYTHON) grader/setup_venv.py

setup: $(READY)

grade: $(READY)
	@$(PY) -m grader grade --impl "$(impl)" $(if $(suite),--suite $(suite)) $(if $(json),--json)

test: $(READY)
	@$(PY) -m grader test $(topic) --impl "$(impl)" $(if $(suite),--suite $(suite)) $(if $(first),-x) \
		$(if $(only),-k "$(only)") $(if $(raw),--raw)

watch: $(READY)
	@$(PY) -m grader watch $(topic) --impl "$(impl)"

next: $(READY)
	@$(PY) -m grader next

reset: $(READY)
	@$(PY) -m grader reset $(topic)

solution: $(READY)
	@$(PY) -m grader solution $(topic) $(if $(yes),--yes)

hint: $(READY)
	@$(PY) -m grader hint $(topic) $(if $(n),--n $(n)) $(if $(reset),--reset)

diff: $(READY)
	@$(PY) -m grader diff $(topic) --impl "$(impl)" $(if $(yes),--yes)

stubs: $(READY)
	@$(PY) -m grader stubs

release: $(READY)
	@$(PY) -m grader release "$(out)" $(if $(classroom),--classroom)

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

nbgrader: $(READY)
	@$(PY) -m grader nbgrader "$(out)"

notebooks: $(READY)
	@$(PY) -m grader notebooks "$(or $(out),notebooks)"

gradescope: $(READY)
	@$(PY) -m grader gradescope $(or $(out),autograder.zip)

bench: $(READY)
	@$(PY) -m grader bench $(topic) $(if $(filter command line,$(origin impl)),-- --impl "$(impl)")

demo: $(READY)
	@$(PY) -m grader demo $(topic) --impl "$(impl)"

clean-venv:
	rm -rf $(VENV)
