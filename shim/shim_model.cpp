// shim_model.cpp — loading TorchScript models and running their methods, for C.
//
// One load path for every model (torch::jit::load), then, for OpenAI-style CLIP
// archives, the graph rewrite that clip.load(jit=True, device="cpu") does in Python:
// traced graphs pin devices as `prim::Constant` "cuda" values and cast activations
// with `aten::to(..., dtype=5 /* half */)`. We point the device constants at the CPU,
// turn every constant half dtype argument into float (6), and cast parameters and
// buffers to float32. Running a method copies the caller's buffers into tensors
// (after checking element counts against shapes: from_blob checks nothing), runs
// under NoGradGuard with the model's mutex held, and hands back float32 in a malloc'd
// buffer. A shim_tensor input is a tensor C fills directly and is run without that
// copy (a batch of crops is megabytes); memory a method keeps stays the model's. A
// model in dense mode (shim_dense_clip.h) runs its image method through that runner.
// Not here: training, CUDA streams, half-precision inference.
#include <sys/stat.h>

#include <torch/script.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "inficond_shim.h"
#include "shim_internal.h"
#include "shim_model_impl.h"

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// c10 ScalarType codes as they appear in TorchScript graphs.
static constexpr int64_t DTYPE_HALF = 5;   // at::kHalf
static constexpr int64_t DTYPE_FLOAT = 6;  // at::kFloat

/* ---- process-wide settings ------------------------------------------------ */

extern "C" void shim_set_threads(int n) {
    try {
        at::set_num_threads(n < 1 ? 1 : n);
    } catch (...) {
    }
}

extern "C" int shim_cuda_available(void) {
    try {
        return torch::cuda::is_available() ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

extern "C" const char *shim_device_name(void) { return shim_cuda_available() ? "cuda" : "cpu"; }

/* ---- graph inspection and patching ---------------------------------------- */

// Every distinct graph of every method of the module and its submodules (traced
// OpenAI archives keep forward, forward1, encode_image... on each submodule).
static std::vector<std::shared_ptr<Graph>> all_graphs(const torch::jit::Module &root) {
    std::vector<std::shared_ptr<Graph>> out;
    std::unordered_set<Graph *> seen;
    for (const torch::jit::Module &mod : root.modules())
        for (const torch::jit::Method &meth : mod.get_methods()) {
            std::shared_ptr<Graph> g = torch::jit::toGraphFunction(meth.function()).graph();
            if (seen.insert(g.get()).second) out.push_back(g);
        }
    return out;
}

static bool is_cuda_device_constant(const Node *n) {
    if (n->kind() != c10::prim::Constant || !n->hasAttribute(c10::attr::value)) return false;
    if (n->output()->type()->kind() != c10::TypeKind::DeviceObjType) return false;
    if (n->kindOf(c10::attr::value) != torch::jit::AttributeKind::s) return false;
    return n->s(c10::attr::value).rfind("cuda", 0) == 0;
}

// Input indices of n that are a `dtype` argument holding the constant half.
static std::vector<size_t> half_dtype_inputs(const Node *n) {
    std::vector<size_t> idx;
    const c10::FunctionSchema *schema = n->maybeSchema();
    if (!schema) return idx;
    const auto &args = schema->arguments();
    for (size_t i = 0; i < n->inputs().size() && i < args.size(); i++) {
        if (args[i].name() != "dtype") continue;
        if (n->input(i)->node()->kind() != c10::prim::Constant) continue;
        c10::optional<c10::IValue> v = torch::jit::toIValue(n->input(i));
        if (v && v->isInt() && v->toInt() == DTYPE_HALF) idx.push_back(i);
    }
    return idx;
}

struct graph_scan {
    int cuda_devices = 0;
    int half_casts = 0;
};

static void scan_block(Block *b, graph_scan *s) {
    for (Node *n : b->nodes()) {
        for (Block *sub : n->blocks()) scan_block(sub, s);
        if (is_cuda_device_constant(n)) s->cuda_devices++;
        s->half_casts += (int)half_dtype_inputs(n).size();
    }
}

// Rewrite in place. A half constant may be shared by other users (an int 5 that is
// a dimension, say), so each dtype input gets a fresh float constant instead of the
// shared node being edited; device constants are only ever devices, so those are
// edited in place.
static void patch_block(Graph &g, Block *b, bool devices_to_cpu, Value **float_const) {
    for (Node *n : b->nodes()) {
        for (Block *sub : n->blocks()) patch_block(g, sub, devices_to_cpu, float_const);
        if (devices_to_cpu && is_cuda_device_constant(n)) n->s_(c10::attr::value, "cpu");
        for (size_t i : half_dtype_inputs(n)) {
            if (!*float_const) {
                torch::jit::WithInsertPoint guard(*g.block()->nodes().begin());
                *float_const = g.insertConstant(DTYPE_FLOAT);
            }
            n->replaceInput(i, *float_const);
        }
    }
}

static bool has_half_tensors(const torch::jit::Module &m) {
    for (const at::Tensor &t : m.parameters())
        if (t.scalar_type() == at::kHalf) return true;
    for (const at::Tensor &t : m.buffers())
        if (t.scalar_type() == at::kHalf) return true;
    return false;
}

/* ---- loading -------------------------------------------------------------- */

static bool contains(const std::string &s, const char *needle) {
    return s.find(needle) != std::string::npos;
}

// Messages libtorch 1.13 gives for archives written by a newer PyTorch: a file format
// version it does not know, or operators / types / builtins it has never heard of.
static bool looks_newer_pytorch(const std::string &raw) {
    static const char *const marks[] = {
        "kMaxSupportedFileFormatVersion", "maximum supported version", "may be too old",
        "version_ ", "Unknown builtin op", "Unknown type name", "Unknown type constructor",
        "Unknown attribute", "Could not find any similar ops", "Unknown operator",
        "unsupported file format version", "Unknown custom class", "is not a known",
    };
    for (const char *m : marks)
        if (contains(raw, m)) return true;
    return false;
}

static bool looks_not_archive(const std::string &raw) {
    return contains(raw, "PytorchStreamReader") || contains(raw, "zip archive") ||
           contains(raw, "constants.pkl") || contains(raw, "data.pkl") ||
           contains(raw, "file not found") || contains(raw, "central directory");
}

// Throws with the message the user should see; the caller prefixes nothing.
static torch::jit::Module load_or_explain(const char *path, c10::Device device) {
    struct stat st;
    if (stat(path, &st) != 0)
        throw std::runtime_error(std::string("cannot open model file ") + path + ": " +
                                 strerror(errno));
    if (!S_ISREG(st.st_mode))
        throw std::runtime_error(std::string("model file ") + path + " is not a regular file");
    // TorchScript archives are zip files; catch the common mistakes (a pickle from
    // torch.save of a state dict in the legacy format, an HTML error page, random
    // bytes) before libtorch does, with a message that says what is wrong.
    unsigned char magic[4] = {0, 0, 0, 0};
    FILE *f = fopen(path, "rb");
    if (!f)
        throw std::runtime_error(std::string("cannot open model file ") + path + ": " +
                                 strerror(errno));
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got < 4 || memcmp(magic, "PK\x03\x04", 4) != 0)
        throw std::runtime_error(
            "not a TorchScript archive: the file is not a zip archive (a TorchScript "
            "file is made by torch.jit.save / torch.jit.trace, not torch.save)");
    try {
        return torch::jit::load(path, device);
    } catch (...) {
        std::string raw = shim_current_exception_text();
        std::string detail = shim_trim(raw);
        if (looks_newer_pytorch(raw))
            throw std::runtime_error(
                "model was exported by a newer PyTorch than libtorch 1.13 can read: " + detail);
        if (looks_not_archive(raw)) throw std::runtime_error("not a TorchScript archive: " + detail);
        throw std::runtime_error("cannot load model: " + detail);
    }
}

extern "C" shim_model *shim_model_load_on(const char *path, int patch_openai, const char *device,
                                          char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    shim_model *m = nullptr;
    try {
        shim_tune_malloc();
        if (!path || !*path) throw std::invalid_argument("model path is empty");
        if (patch_openai < -1 || patch_openai > 1)
            throw std::invalid_argument("patch_openai must be -1, 0 or 1");
        c10::Device dev(c10::kCPU);
        if (device && *device && strcmp(device, "cpu") != 0) {
            if (strcmp(device, "cuda") != 0)
                throw std::invalid_argument(std::string("unknown device '") + device + "'");
            if (!torch::cuda::is_available())
                throw std::invalid_argument("device 'cuda' requested but no CUDA device is usable");
            dev = c10::Device(c10::kCUDA, 0);
        }
        torch::jit::Module mod = load_or_explain(path, dev);

        std::vector<std::shared_ptr<Graph>> graphs = all_graphs(mod);
        graph_scan scan;
        for (const auto &g : graphs) scan_block(g->block(), &scan);
        bool want = patch_openai == 1 ||
                    (patch_openai == -1 &&
                     (scan.cuda_devices > 0 || scan.half_casts > 0 || has_half_tensors(mod)));
        if (!want && dev.is_cpu() && scan.cuda_devices > 0)
            throw std::runtime_error(
                "the model's graph pins CUDA devices (" + std::to_string(scan.cuda_devices) +
                " constants, an OpenAI-style JIT archive) and cannot run on the CPU unpatched; "
                "set \"patch_openai_jit\": true or leave it out to detect");
        if (want) {
            for (const auto &g : graphs) {
                Value *float_const = nullptr;
                patch_block(*g, g->block(), dev.is_cpu(), &float_const);
            }
            mod.to(at::kFloat);
        }
        mod.eval();

        m = new shim_model();
        m->module = std::move(mod);
        m->device = dev;
        m->patched = want;
        return m;
    } catch (...) {
        delete m;
        shim_report_current(errbuf, errlen, "");
        return nullptr;
    }
}

extern "C" shim_model *shim_model_load(const char *path, int patch_openai, char *errbuf,
                                       size_t errlen) {
    return shim_model_load_on(path, patch_openai, "cpu", errbuf, errlen);
}

extern "C" void shim_model_free(shim_model *m) {
    try {
        delete m;
    } catch (...) {
    }
}

extern "C" int shim_model_patched(const shim_model *m) { return m && m->patched ? 1 : 0; }

extern "C" int shim_model_has_method(const shim_model *m, const char *name) {
    if (!m || !name) return 0;
    try {
        if (m->dense && m->dense_method == name) return 1;
        return m->module.find_method(name).has_value() ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

static std::string method_names(const torch::jit::Module &mod) {
    std::string s;
    for (const torch::jit::Method &meth : mod.get_methods()) {
        if (!s.empty()) s += ", ";
        s += meth.name();
    }
    return s.empty() ? "none" : s;
}

extern "C" int shim_model_method_names(const shim_model *m, char *buf, size_t len) {
    if (!m || !buf || len == 0) return -1;
    try {
        std::string s = method_names(m->module);
        size_t n = s.size() < len - 1 ? s.size() : len - 1;
        memcpy(buf, s.data(), n);
        buf[n] = '\0';
        return 0;
    } catch (...) {
        buf[0] = '\0';
        return -1;
    }
}

/* ---- running -------------------------------------------------------------- */

static at::Tensor input_tensor(const shim_input &in, size_t k, c10::Device dev) {
    std::string which = "input " + std::to_string(k);
    if (in.ndim < 0 || in.ndim > SHIM_MAX_DIMS)
        throw std::invalid_argument(which + ": ndim " + std::to_string(in.ndim) + " out of range 0.." +
                                    std::to_string(SHIM_MAX_DIMS));
    at::ScalarType st;
    size_t elem;
    switch (in.dtype) {
    case SHIM_FLOAT32: st = at::kFloat; elem = sizeof(float); break;
    case SHIM_INT64: st = at::kLong; elem = sizeof(int64_t); break;
    default: throw std::invalid_argument(which + ": unknown dtype " + std::to_string((int)in.dtype));
    }
    // The product of the shape must equal the caller's element count, without overflow:
    // this is the only size check between a C pointer and from_blob.
    uint64_t prod = 1;
    std::vector<int64_t> shape(in.shape, in.shape + in.ndim);
    for (int d = 0; d < in.ndim; d++) {
        if (in.shape[d] < 0)
            throw std::invalid_argument(which + ": negative dimension " + std::to_string(in.shape[d]));
        if (in.shape[d] != 0 && prod > (uint64_t)(SIZE_MAX / elem) / (uint64_t)in.shape[d])
            throw std::invalid_argument(which + ": shape too large");
        prod *= (uint64_t)in.shape[d];
    }
    if (prod != (uint64_t)in.count)
        throw std::invalid_argument(which + ": shape holds " + std::to_string(prod) +
                                    " elements but " + std::to_string(in.count) + " were given");
    if (prod > 0 && !in.data) throw std::invalid_argument(which + ": data is NULL");
    if (prod == 0) return torch::empty(shape, torch::TensorOptions().dtype(st).device(dev));
    // from_blob borrows; clone so the model never writes into (or keeps) caller memory.
    at::Tensor t = torch::from_blob(const_cast<void *>(in.data), shape, torch::TensorOptions().dtype(st));
    return dev.is_cpu() ? t.clone() : t.to(dev);
}

static at::Tensor first_tensor(const c10::IValue &v) {
    if (v.isTensor()) return v.toTensor();
    if (v.isTuple())
        for (const c10::IValue &e : v.toTupleRef().elements())
            if (e.isTensor()) return e.toTensor();
    if (v.isTensorList() && v.toTensorList().size() > 0) return v.toTensorList().get(0);
    if (v.isList())
        for (const c10::IValue &e : v.toListRef())
            if (e.isTensor()) return e.toTensor();
    throw std::runtime_error("returned " + v.tagKind() + ", not a tensor");
}

// Find the method, run it on args under the model's lock without autograd, copy the
// result out. Throws with the reason.
static void run_method(shim_model *m, const char *method, std::vector<c10::IValue> args, shim_output *out) {
    if (m->dense && m->dense_method == method) {  // dense mode stands in for the image method
        if (args.size() != 1 || !args[0].isTensor())
            throw std::invalid_argument("dense mode takes one image tensor, got " + std::to_string(args.size()) +
                                        " inputs");
        at::Tensor res;
        {
            std::lock_guard<std::mutex> lock(m->mu);
            c10::InferenceMode guard;
            res = shim_dense_clip_forward(*m->dense, args[0].toTensor()).to(c10::kCPU).contiguous();
        }
        shim_output_from_tensor(res, out);
        return;
    }
    c10::optional<torch::jit::Method> meth = m->module.find_method(method);
    if (!meth)
        throw std::invalid_argument("the model has no such method (it has: " + method_names(m->module) + ")");
    at::Tensor res;
    {
        std::lock_guard<std::mutex> lock(m->mu);
        // NoGradGuard rather than InferenceMode: 1.13's profiling executor can trip
        // over inference tensors, and outputs are copied out anyway.
        torch::NoGradGuard no_grad;
        res = first_tensor((*meth)(std::move(args)));
        res = res.to(torch::TensorOptions().device(c10::kCPU).dtype(at::kFloat)).contiguous();
    }
    shim_output_from_tensor(res, out);
}

extern "C" int shim_model_run(shim_model *m, const char *method, const shim_input *inputs,
                              int n_inputs, shim_output *out, char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    if (out) memset(out, 0, sizeof *out);
    std::string ctx = std::string("method '") + (method ? method : "(null)") + "'";
    try {
        if (!m || !method || !out || n_inputs < 0 || (n_inputs > 0 && !inputs))
            throw std::invalid_argument("bad arguments");
        std::vector<c10::IValue> args;
        args.reserve((size_t)n_inputs);
        for (int k = 0; k < n_inputs; k++) args.emplace_back(input_tensor(inputs[k], (size_t)k, m->device));
        run_method(m, method, std::move(args), out);
        return 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, ctx.c_str());
        return -1;
    }
}

/* ---- shim-owned input tensors ---------------------------------------------- */

struct shim_tensor {
    at::Tensor t;  // (cap) float32, contiguous; undefined after a failed reallocation
    int64_t cap = 0;
};

extern "C" shim_tensor *shim_tensor_new(size_t count, char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    try {
        if (count == 0 || count > (size_t)(INT64_MAX / (int64_t)sizeof(float)))
            throw std::invalid_argument("input tensor: bad element count " + std::to_string(count));
        auto s = std::make_unique<shim_tensor>();
        s->cap = (int64_t)count;
        s->t = torch::empty({s->cap}, torch::TensorOptions().dtype(at::kFloat));
        return s.release();
    } catch (...) {
        shim_report_current(errbuf, errlen, "");
        return nullptr;
    }
}

extern "C" float *shim_tensor_data(shim_tensor *s) {
    return s && s->t.defined() ? s->t.data_ptr<float>() : nullptr;
}

extern "C" void shim_tensor_free(shim_tensor *s) {
    try {
        delete s;
    } catch (...) {
    }
}

// After a run: if the method kept the input (the tensor or a view shares its storage)
// or moved its memory (an in-place resize), that memory is the model's now: the
// caller gets fresh memory, so C never writes into what a model still holds.
static void reclaim_input(shim_tensor *s, const void *before) {
    try {
        if (s->t.defined() && s->t.use_count() == 1 && s->t.storage().use_count() == 1 &&
            s->t.data_ptr() == before && s->t.numel() == s->cap)
            return;
        s->t = at::Tensor();
        s->t = torch::empty({s->cap}, torch::TensorOptions().dtype(at::kFloat));
    } catch (...) {
        s->t = at::Tensor(); /* out of memory: shim_tensor_data says NULL */
    }
}

extern "C" int shim_model_run_tensor(shim_model *m, const char *method, shim_tensor *s, int ndim,
                                     const int64_t *shape, shim_output *out, char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    if (out) memset(out, 0, sizeof *out);
    std::string ctx = std::string("method '") + (method ? method : "(null)") + "'";
    const void *before = s && s->t.defined() ? s->t.data_ptr() : nullptr;
    int rc = -1;
    try {
        if (!m || !method || !out || !s || !before || ndim < 1 || ndim > SHIM_MAX_DIMS || !shape)
            throw std::invalid_argument("bad arguments");
        int64_t prod = 1;
        for (int d = 0; d < ndim; d++) {
            if (shape[d] < 1 || prod > s->cap / shape[d])
                throw std::invalid_argument("input shape does not fit the buffer of " + std::to_string(s->cap) +
                                            " floats");
            prod *= shape[d];
        }
        at::Tensor x = s->t.narrow(0, 0, prod).view(std::vector<int64_t>(shape, shape + ndim));
        if (!m->device.is_cpu()) x = x.to(m->device);
        std::vector<c10::IValue> args;
        args.emplace_back(std::move(x));
        run_method(m, method, std::move(args), out);
        rc = 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, ctx.c_str());
    }
    if (s && before) reclaim_input(s, before);
    return rc;
}

void shim_output_from_tensor(const at::Tensor &res, shim_output *out) {
    if (res.dim() > SHIM_MAX_DIMS)
        throw std::runtime_error("returned a tensor with " + std::to_string(res.dim()) + " dimensions");
    size_t count = (size_t)res.numel();
    float *data = (float *)malloc(count ? count * sizeof(float) : 1);
    if (!data) throw std::bad_alloc();
    if (count) memcpy(data, res.data_ptr<float>(), count * sizeof(float));
    out->data = data;
    out->ndim = (int)res.dim();
    for (int d = 0; d < out->ndim; d++) out->shape[d] = res.size(d);
    out->count = count;
}

extern "C" void shim_free_output(shim_output *out) {
    if (!out) return;
    free(out->data);
    memset(out, 0, sizeof *out);
}
