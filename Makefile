# inficond — build, run, test.
#
#   make            build build/inficond (and the libtorch shim it links)
#   make run        install what is missing, build, start (private PostgreSQL unless DATABASE_URL)
#   make test       install what is missing, build with ASan/UBSan, run unit + API + UI tests
#   make bench      run the benchmarks in bench/ (each prints JSON on its last line)
#
# Every C file in server/ (the core) and its stage folders (server/*/) is part of the
# binary; every tests/unit/test_*.c is a cmocka test program linked against all server
# objects except main.o.

CC       ?= cc
CXX      ?= g++
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g -pthread $(SAN) -Iserver -Ishim -I/usr/include/postgresql
CXXFLAGS := -std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1 -Wall -Wextra -O2 -g -fPIC \
            -I/usr/include/torch/csrc/api/include -Wno-unused-parameter
LIBS     := -lmicrohttpd -lz -ljansson -lpq -lopenblas -lturbojpeg -lsodium -larchive -lspng -lutf8proc -lm -lpthread
TORCHLIBS := -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed

SERVER_SRC := $(wildcard server/*.c server/*/*.c)
SERVER_HDR := $(wildcard server/*.h server/*/*.h)
SERVER_OBJ := $(patsubst server/%.c,$(BUILD)/server/%.o,$(SERVER_SRC))
LIB_OBJ    := $(filter-out $(BUILD)/server/main.o,$(SERVER_OBJ))
SHIM_SRC   := $(wildcard shim/*.cpp)
SHIM_LIB   := build/libinficond_shim.so
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps run test test-unit test-api test-ui bench clean asan distclean

all: $(BUILD)/inficond

# The shim is always built once, unsanitised, in build/: it is C++ against libtorch and
# takes ~20 s per translation unit, so the ASan build reuses it.
build/shim/%.o: shim/%.cpp shim/*.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(SHIM_LIB): $(patsubst shim/%.cpp,build/shim/%.o,$(SHIM_SRC))
	$(CXX) -shared -o $@ $^ -Wl,--no-undefined $(TORCHLIBS) -lpthread

$(BUILD)/server/%.o: server/%.c $(SERVER_HDR) shim/inficond_shim.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/inficond: $(SERVER_OBJ) $(SHIM_LIB)
	$(CC) $(CFLAGS) -o $@ $(SERVER_OBJ) -Lbuild -linficond_shim -Wl,-rpath,'$$ORIGIN':'$$ORIGIN/..' $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(SHIM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) -Lbuild -linficond_shim -Wl,-rpath,$(CURDIR)/build $(LIBS) -lcmocka

# The shim first, here: the ASan make reuses it, and a parallel `make all asan` must not
# compile it twice at once.
asan: $(SHIM_LIB)
	$(MAKE) BUILD=build/asan SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' OPT=-O1 build/asan/inficond $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))

deps:
	@t0=$$(date +%s); bash scripts/deps.sh && echo "== deps (took $$(($$(date +%s) - t0)) s)"

run: deps all
	@bash scripts/run.sh

# Both builds with one job per CPU unless make was given -j (CI runs plain `make test`);
# each step says how long it took.
NPROC := $(shell nproc 2>/dev/null || echo 2)
test: deps
	@t0=$$(date +%s); $(MAKE) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(NPROC)) all asan \
	  && echo "== build: release and ASan/UBSan (took $$(($$(date +%s) - t0)) s)"
	@bash tests/run.sh

# libFuzzer targets (tests/fuzz/, clang with ASan + UBSan): each runs FUZZ_SECONDS;
# `tests/fuzz/run.sh --regress` replays the saved crash inputs and seeds once.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: $(SHIM_LIB)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

bench: deps all
	@bash bench/run.sh

clean:
	rm -rf build

distclean: clean
	rm -rf var node_modules static/vendor
