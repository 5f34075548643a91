// shim_student_export.cpp — a fitted linear student as a TorchScript archive.
//
// The module maps presence vectors to class scores: forward(x (B, d)) -> (B, C) =
// x W^T + b, and predict(x) -> (B) the argmax. It is written with
// torch::jit::Module::define() (aten ops only, no torch.nn.functional), so it loads
// with torch.jit.load in Python and through the shim's own torch::jit::load path.
// The column and row names travel with it as attributes: `concepts` (List[str], the
// d presence columns in order), `classes` (List[str], the C rows) and `meta` (a JSON
// string chosen by the caller). Out of scope: concept extraction itself (presence
// must be computed as the service does, see server/student_predict.c).
#include <torch/script.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "inficond_shim.h"
#include "shim_internal.h"

static const char *const STUDENT_SRC = R"JIT(
def forward(self, x: Tensor) -> Tensor:
    return torch.linear(x, self.weight, self.bias)

def predict(self, x: Tensor) -> Tensor:
    return torch.argmax(torch.linear(x, self.weight, self.bias), 1)
)JIT";

static c10::List<std::string> string_list(const char *const *names, int n, const char *what) {
    c10::List<std::string> out;
    for (int i = 0; i < n; i++) {
        if (!names[i]) throw std::invalid_argument(std::string(what) + " name " + std::to_string(i) + " is NULL");
        out.push_back(names[i]);
    }
    return out;
}

extern "C" int shim_student_export(const float *w, const float *b, int c, int d, const char *const *concepts,
                                   const char *const *classes, const char *meta, void **buf, size_t *len,
                                   char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    if (buf) *buf = nullptr;
    if (len) *len = 0;
    try {
        if (!w || !b || !concepts || !classes || !buf || !len) throw std::invalid_argument("NULL argument");
        if (c < 1 || d < 1 || c > 1000000 || d > 1000000) throw std::invalid_argument("c and d must be 1..1000000");
        for (size_t i = 0; i < (size_t)c * d; i++)
            if (!std::isfinite(w[i])) throw std::invalid_argument("weight " + std::to_string(i) + " is not finite");
        for (int k = 0; k < c; k++)
            if (!std::isfinite(b[k])) throw std::invalid_argument("bias " + std::to_string(k) + " is not finite");

        torch::jit::Module mod("InficondStudent");
        // clone(): from_blob only borrows the caller's memory.
        mod.register_parameter("weight", torch::from_blob((void *)w, {c, d}, torch::kFloat).clone(), false);
        mod.register_parameter("bias", torch::from_blob((void *)b, {c}, torch::kFloat).clone(), false);
        mod.register_attribute("concepts", c10::ListType::ofStrings(), string_list(concepts, d, "concept"));
        mod.register_attribute("classes", c10::ListType::ofStrings(), string_list(classes, c, "class"));
        mod.register_attribute("meta", c10::StringType::get(), std::string(meta ? meta : "{}"));
        mod.define(STUDENT_SRC);
        mod.eval();

        // Probe: a zero presence vector scores exactly the biases.
        {
            torch::NoGradGuard no_grad;
            at::Tensor y = mod.forward({torch::zeros({1, d})}).toTensor();
            if (y.dim() != 2 || y.size(0) != 1 || y.size(1) != c)
                throw std::runtime_error("probe gave shape " + c10::str(y.sizes()));
            if (!torch::equal(y[0], mod.attr("bias").toTensor())) throw std::runtime_error("probe did not give the biases");
        }
        std::ostringstream os;
        mod.save(os);
        const std::string s = os.str();
        void *out = std::malloc(s.size() ? s.size() : 1);
        if (!out) throw std::bad_alloc();
        std::memcpy(out, s.data(), s.size());
        *buf = out;
        *len = s.size();
        return 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, "student export");
        return -1;
    }
}
