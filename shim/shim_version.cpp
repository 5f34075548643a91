// shim_version.cpp — reports the libtorch version (no torch.h: compiles fast).
#include <torch/version.h>

#include "inficond_shim.h"

extern "C" const char *shim_torch_version(void) { return TORCH_VERSION; }
