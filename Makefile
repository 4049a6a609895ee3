# Thin wrapper over CMake. `make setup` installs the Debian packages, `make`
# builds build/sermo and build/libsermo.so, `make test` runs the suite.
# SANITIZE=1 builds into build-asan with AddressSanitizer + UBSan.
BUILD ?= build
CMAKE_FLAGS ?=
ifeq ($(SANITIZE),1)
BUILD := build-asan
CMAKE_FLAGS += -DSERMO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
endif
ifeq ($(WERROR),1)
CMAKE_FLAGS += -DSERMO_WERROR=ON
endif
JOBS ?= $(shell nproc)

DEBIAN_PACKAGES = build-essential cmake pkg-config libsndfile1-dev libsoxr-dev \
  libfftw3-dev libcairo2-dev libyaml-dev libcjson-dev libcurl4-openssl-dev \
  libarchive-dev libssl-dev libopenblas-dev libdnnl-dev fonts-dejavu-core
# Reference implementations for fixtures and benchmarks only (never run-time).
REFERENCE_PACKAGES = python3-torch python3-torchaudio python3-torchvision python3-sklearn

.PHONY: all setup setup-reference test demo bench clean

all: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

# Installs only when something is missing, so `make demo` stays quick on a
# set-up machine.
setup:
	@if dpkg-query -W -f='$${Status}\n' $(DEBIAN_PACKAGES) 2>/dev/null | grep -qv 'install ok installed' \
	   || ! dpkg-query -W $(DEBIAN_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEBIAN_PACKAGES); \
	  else \
	    echo "run as root: apt-get install -y $(DEBIAN_PACKAGES)"; exit 1; \
	  fi; \
	else echo "setup: all Debian packages present"; fi

setup-reference:
	DEBIAN_FRONTEND=noninteractive apt-get install -y $(REFERENCE_PACKAGES)

demo: setup all
	scripts/demo.sh

bench: all
	/usr/bin/python3 bench/frontend.py
	/usr/bin/python3 bench/zoo.py --bin $(BUILD)/bench_zoo

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf build build-asan
