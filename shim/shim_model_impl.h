// shim_model_impl.h — the inside of a shim_model handle, for the shim's C++ files that
// load and run models (shim_model.cpp, shim_dense_clip.cpp). Not part of the C API.
#ifndef INFICOND_SHIM_MODEL_IMPL_H
#define INFICOND_SHIM_MODEL_IMPL_H

#include <torch/script.h>

#include <memory>
#include <mutex>
#include <string>

#include "inficond_shim.h"

struct shim_dense_clip;  // shim_dense_clip.cpp

struct shim_model {
    torch::jit::Module module;
    c10::Device device{c10::kCPU};
    bool patched = false;
    std::mutex mu;  // held for a whole run: see inficond_shim.h's note on threads
    // Dense mode (shim_dense_clip.h): runs of dense_method go to this runner instead.
    std::shared_ptr<shim_dense_clip> dense;
    std::string dense_method;
};

// The dense runner on x (N, 3, H, W) float32 -> (N, E, H/p, W/p). Call with m->mu
// held and autograd off. Throws with the reason. (shim_dense_clip.cpp)
at::Tensor shim_dense_clip_forward(shim_dense_clip &d, const at::Tensor &x);

#endif
