# Thin wrapper over scripts/: each target installs what is missing first.
.PHONY: run test build deps clean
run:          ## set up, build and run the main job on built-in defaults
	@scripts/deps.sh build
	@scripts/build.sh release
	@build/sluice demo
	@scripts/function_demo.sh
test:         ## set up, build and run every test
	@scripts/deps.sh
	@scripts/test.sh
build:
	@scripts/deps.sh build
	@scripts/build.sh release
deps:
	@scripts/deps.sh
clean:
	rm -rf build build-asan build-tsan build-fuzz
