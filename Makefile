# The commands of README.md: `make demo` trains IDCGAN on the embedded calligraphy dataset,
# `make compare` runs the preset study, `make test` runs the test suite. Each creates the
# virtual environment $(VENV) first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Keyed by pyproject.toml and this clone's path: a venv shared by clones gets the editable install of this one.
STAMP := $(VENV)/.installed-$(shell (sha256sum pyproject.toml; pwd) | sha256sum | cut -c1-12)
FONTS := fonts-arphic-ukai fonts-cwtex-kai fonts-lxgw-wenkai fonts-arphic-uming fonts-arphic-gkai00mp fonts-cns11643-kai
EPOCHS ?= 30
DEMO_MINUTES ?= 00:00:07:00
DEMO_EVERY ?= 7
DEMO_SIZE ?= 32
DEMO_WIDTH ?= 32

.PHONY: install fonts demo compare test bench bench-attention bench-train clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fid,app,font,slurm]'
	rm -f $(VENV)/.installed-*
	touch $@

fonts:
	@if fc-list 2>/dev/null | grep -qi -e ukai -e cwtex -e wenkai && fc-list | grep -qi uming; then \
		echo "Kai and printed CJK fonts found."; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq $(FONTS); \
	else \
		echo "No CJK Kai font found. Install them with:"; \
		echo "  sudo apt-get install -y $(FONTS)"; \
	fi

# IDCGAN with the shared recipe at width 32 (half the configs' channels: on a CPU it reaches a lower
# FID in the same minutes, docs/lab/results.md#stage-3-width-at-equal-minutes), 32 px, for 7 minutes of training
# (at most $(EPOCHS) epochs, so slower machines stay in time); FID, KID, precision and recall before
# training, every $(DEMO_EVERY) epochs and after the last.
demo: install fonts
	$(BIN)/igan train --config configs/calligraphy_idcgan.yaml --trainer.max_epochs=$(EPOCHS) \
		--trainer.max_time=$(DEMO_MINUTES) --data.image_size=$(DEMO_SIZE) --metrics.every_n_epochs=$(DEMO_EVERY) \
		--model.generator.init_args.width=$(DEMO_WIDTH) --model.discriminator.init_args.width=$(DEMO_WIDTH)

# The preset study of README.md: the three models on 32 px calligraphy with the shared recipe at width
# 32 (as the demo), three seeds each, the same noise and the same budget: $(COMPARE_MINUTES) minutes of
# training per run (at most $(COMPARE_EPOCHS) epochs), two runs at a time on one thread each, evaluated
# every $(COMPARE_EVERY) epochs and after the last (just under two hours on the 2-core development
# machine, docs/lab/results.md). Re-running it continues it; a larger COMPARE_MINUTES trains further.
COMPARE_MINUTES ?= 21
COMPARE_EPOCHS ?= 60
COMPARE_EVERY ?= 10
COMPARE_WIDTH ?= 32
COMPARE_SEEDS ?= 0 1 2
COMPARE_JOBS ?= 2
COMPARE_OUT ?= runs/compare
compare: install fonts
	$(BIN)/igan study --out $(COMPARE_OUT) --epochs $(COMPARE_EPOCHS) --minutes $(COMPARE_MINUTES) \
		--seeds $(COMPARE_SEEDS) --jobs $(COMPARE_JOBS) --data.image_size=32 --metrics.every_n_epochs=$(COMPARE_EVERY) \
		--model.generator.init_args.width=$(COMPARE_WIDTH) --model.discriminator.init_args.width=$(COMPARE_WIDTH) \
		--configs configs/calligraphy_dcgan.yaml configs/calligraphy_sagan.yaml configs/calligraphy_idcgan.yaml

# The fonts too: without a Kai font the calligraphy tests skip.
test: install fonts
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python benchmarks/involution.py

# SAGAN's attention under a gradient penalty: SDPA's math path against igan.ops.attention (about 2 min).
bench-attention: install
	$(BIN)/python benchmarks/attention.py

# Training throughput of the recipe and ablation configs, Lightning against a bare loop (about 12 min on 2 cores).
bench-train: install
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
	find samples -mindepth 1 -maxdepth 1 -type d ! -name readme -exec rm -rf {} +
