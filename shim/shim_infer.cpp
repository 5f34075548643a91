// shim_infer.cpp — load a TorchScript teacher and optimise it for CPU inference
// (freeze + oneDNN convolutions); see shim_infer.h.
#include "shim_infer.h"

#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/script.h>

#include <cstring>
#include <mutex>
#include <string>

#include "shim_internal.h"

struct shim_infer {
    torch::jit::Module module;     // frozen + optimised for inference
    torch::jit::Module plain;      // as loaded: the fallback
    bool use_plain = false;        // set once the optimised graph refused an input
    std::string method;
    std::mutex mu;  // one run at a time, as for shim_model
};

extern "C" shim_infer *shim_infer_load(const char *path, const char *method, char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    try {
        if (!path || !method) throw std::invalid_argument("bad arguments");
        auto m = std::make_unique<shim_infer>();
        m->method = method;
        torch::jit::Module loaded = torch::jit::load(path, c10::Device(c10::kCPU));
        loaded.eval();
        if (!loaded.find_method(method)) throw std::invalid_argument(std::string("no method '") + method + "'");
        std::vector<std::string> keep;
        if (m->method != "forward") keep.push_back(m->method);
        // Freeze explicitly: optimize_for_inference only freezes modules that carry a
        // `training` attribute, and modules made with Module::define may not, which
        // left weights as attributes and skipped the oneDNN rewrite (5x slower).
        m->plain = loaded.clone();
        torch::jit::Module frozen = torch::jit::freeze(loaded, keep, true);
        m->module = torch::jit::optimize_for_inference(frozen, keep);
        return m.release();
    } catch (...) {
        shim_report_current(errbuf, errlen, "optimize_for_inference");
        return nullptr;
    }
}

extern "C" void shim_infer_free(shim_infer *m) { delete m; }

extern "C" int shim_infer_run(shim_infer *m, const shim_input *in, shim_output *out, char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    if (out) memset(out, 0, sizeof *out);
    try {
        if (!m || !in || !out || in->dtype != SHIM_FLOAT32 || in->ndim < 1 || in->ndim > SHIM_MAX_DIMS || !in->data)
            throw std::invalid_argument("bad arguments");
        std::vector<int64_t> shape(in->shape, in->shape + in->ndim);
        uint64_t prod = 1;
        for (int64_t d : shape) {
            if (d <= 0) throw std::invalid_argument("non-positive dimension");
            prod *= (uint64_t)d;
        }
        if (prod != (uint64_t)in->count)
            throw std::invalid_argument("shape holds " + std::to_string(prod) + " elements but " +
                                        std::to_string(in->count) + " were given");
        // Borrowed, not cloned: a frozen inference graph does not write into its input.
        at::Tensor x = torch::from_blob(const_cast<void *>(in->data), shape, torch::TensorOptions().dtype(at::kFloat));
        at::Tensor res;
        {
            std::lock_guard<std::mutex> lock(m->mu);
            torch::NoGradGuard no_grad;
            c10::IValue v;
            if (!m->use_plain) {
                // oneDNN kernels refuse some shapes the plain ones take (e.g. an
                // adaptive pool whose input is not a multiple of its output): fall back
                // to the model as loaded, for good.
                try {
                    v = m->module.get_method(m->method)({x});
                } catch (const std::exception &) {
                    m->use_plain = true;
                }
            }
            if (m->use_plain) v = m->plain.get_method(m->method)({x});
            if (!v.isTensor()) throw std::runtime_error("returned " + v.tagKind() + ", not a tensor");
            res = v.toTensor().to(at::kFloat).contiguous();
        }
        shim_output_from_tensor(res, out);
        return 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, ("method '" + (m ? m->method : std::string("?")) + "'").c_str());
        return -1;
    }
}
