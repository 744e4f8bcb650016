# The two commands a fresh machine needs (each does all set-up itself):
#   make smoke   runs the main job: the smoke-classifier pipeline, end to end
#   make test    runs the test suite (what CI runs)
.PHONY: smoke test setup bench

smoke:
	scripts/smoke.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh

bench:
	bench/engine.sh
