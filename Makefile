# The book's commands. `make reproduce` builds the book into build/, `make test` checks it.
# PYTHON=python uses an environment you already have (conda from environment.yml, an active venv)
# instead of creating .venv.
PYTHON ?= .venv/bin/python
MODE ?= quick
ARGS ?=
# Test workers: notebooks run one per worker (their cells in order), each kernel on one thread.
WORKERS ?= auto

ifeq ($(PYTHON),.venv/bin/python)
INSTALL := .venv/.installed
else
INSTALL :=
endif

.PHONY: reproduce test lab bench install record clean-notebooks

reproduce: $(INSTALL)
	MTLBOOK_MODE=$(MODE) $(PYTHON) -m mtlbook reproduce --out build

test: $(INSTALL)
	$(PYTHON) -m pytest -n $(WORKERS) --maxprocesses 4 --dist loadscope $(ARGS)

lab: $(INSTALL)
	$(PYTHON) -m jupyter lab notebooks/

bench: $(INSTALL)
	$(PYTHON) -m benchmarks $(ARGS)

install: $(INSTALL)

# Execute notebooks in quick mode and keep only the outputs of their NBVAL_CHECK_OUTPUT cells.
record: $(INSTALL)
	$(PYTHON) tools/notebooks.py record $(NB)

clean-notebooks: $(INSTALL)
	$(PYTHON) tools/notebooks.py clean notebooks/*.ipynb

.venv/.installed: pyproject.toml tools/install.sh
	tools/install.sh
	@touch $@
