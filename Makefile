# Course tasks. Every target bootstraps .venv from requirements.txt first (skipped when unchanged).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests and CI read MNIST from the shared copy beside the checkout when it is there.
SHARED_DATA := $(abspath ../shared/data)
export CNN_COURSE_DATA ?= $(if $(wildcard $(SHARED_DATA)/mnist),$(SHARED_DATA),)
# Grading and tests never need more than the CPU.
export CUDA_VISIBLE_DEVICES ?=
JOBS ?= 2
# The CJK font of the Chinese book's figures (Debian's fonts-wqy-microhei; autograder/book/fonts.py).
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

.PHONY: venv book catalogs test test-fast grade watch train exercises fixtures bench clean help student-release gradescope

help:
	@echo "make book       build the website into _build/html (English) and _build/html/zh_CN (Chinese)"
	@echo "make catalogs   update the Chinese catalogs in locales/zh_CN from the English pages"
	@echo "make test       run the whole test suite (what CI runs)"
	@echo "make grade      grade the notebooks in exercises/ (or NB=path)"
	@echo "make watch      regrade NB=path/to/notebook.ipynb on every save, printing what changed"
	@echo "make train      retrain the reference models (writes autograder/reference/)"
	@echo "make exercises  regenerate exercises/ (and the Chinese exercises/zh_CN/) from solutions/ with nbgrader"
	@echo "make fixtures   regenerate the PyTorch oracle fixtures in autograder/oracle_data/"
	@echo "make bench      run the benchmarks (QUICK=1 for a short run)"
	@echo "make student-release OUT=DIR             the learners' repository (no solutions, no hidden checks)"
	@echo "make gradescope ASSIGNMENT=NN-topic OUT=FILE.zip   the Gradescope autograder of one assignment"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@{ command -v bwrap && test -f $(CJK_FONT); } >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		{ apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq bubblewrap fonts-wqy-microhei; }
	@command -v bwrap >/dev/null || echo "note: bubblewrap is missing, so grading falls back to weaker isolation (sudo apt-get install -y bubblewrap)"
	@test -f $(CJK_FONT) || echo "note: the Chinese font is missing, so the Chinese book cannot draw its figures (sudo apt-get install -y fonts-wqy-microhei)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

book: $(STAMP)
	$(PY) -m autograder.site_assets
	$(PY) -m autograder.book_build

catalogs: $(STAMP)
	$(PY) -m autograder.book_build --catalogs

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup

test-fast: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "not slow"

grade: $(STAMP)
	$(PY) -m autograder $(or $(NB),exercises)

watch: $(STAMP)
	@test -n "$(NB)" || { echo "make watch needs NB=path/to/notebook.ipynb"; exit 2; }
	$(PY) -m autograder --watch $(NB)

train: $(STAMP)
	$(PY) -m autograder.reference.train lenet5 $(if $(THREADS),--threads $(THREADS),)
	$(PY) -m autograder.reference.train lenet5_digits04 $(if $(THREADS),--threads $(THREADS),)
	$(PY) -m autograder.reference.train minivgg $(if $(THREADS),--threads $(THREADS),)

exercises: $(STAMP)
	$(PY) -m autograder.release

fixtures: $(STAMP)
	$(PY) -m autograder.oracles

student-release: $(STAMP)
	@test -n "$(OUT)" || { echo "usage: make student-release OUT=DIR [BOOK_URL=https://...]" >&2; exit 2; }
	$(PY) -m autograder.classroom.student_release "$(OUT)" $(if $(BOOK_URL),--book-url "$(BOOK_URL)",)

gradescope: $(STAMP)
	@test -n "$(ASSIGNMENT)" -a -n "$(OUT)" || { echo "usage: make gradescope ASSIGNMENT=NN-topic OUT=FILE.zip" >&2; exit 2; }
	$(PY) -m autograder.classroom.gradescope build "$(ASSIGNMENT)" "$(OUT)"

bench: $(STAMP)
	$(PY) benchmarks/run.py $(if $(QUICK),--quick,)

clean:
	rm -rf _build .pytest_cache gradebook.db
