// shim_define.cpp — building small TorchScript models in C++ (the demo's teacher).
//
// Models are written with torch::jit::Module::define() and saved with save(), so
// they load through the same torch::jit::load path as any user's archive (a
// torch::save'd nn::Module is not TorchScript). Parameters are registered on the
// module with requires_grad so a trainer can fit them later. Initialisation follows
// PyTorch's default for conv/linear (uniform in +-1/sqrt(fan_in)) from a private
// generator, so the same seed gives the same weights and the global RNG is untouched.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/script.h>

#include <cmath>

#include "inficond_shim.h"
#include "shim_internal.h"

// conv3x3(C->16)-relu-maxpool2, conv3x3(16->32)-relu-maxpool2, adaptive avg pool to
// 2x2 (so any input size >= 4x4 works), linear(32*2*2 -> K).
static const char *const TEACHER_CNN_SRC = R"JIT(
def forward(self, x: Tensor) -> Tensor:
    h = torch.relu(torch.conv2d(x, self.conv1_w, self.conv1_b, [1, 1], [1, 1]))
    h = torch.max_pool2d(h, [2, 2], [2, 2])
    h = torch.relu(torch.conv2d(h, self.conv2_w, self.conv2_b, [1, 1], [1, 1]))
    h = torch.max_pool2d(h, [2, 2], [2, 2])
    h = torch.adaptive_avg_pool2d(h, [2, 2])
    h = torch.flatten(h, 1)
    return torch.linear(h, self.fc_w, self.fc_b)
)JIT";

static constexpr int64_t CNN_C1 = 16, CNN_C2 = 32, CNN_POOL = 2;

static at::Tensor uniform_param(std::vector<int64_t> shape, int64_t fan_in, at::Generator &gen) {
    double bound = 1.0 / std::sqrt((double)fan_in);
    at::Tensor t = torch::empty(shape, torch::kFloat).uniform_(-bound, bound, gen);
    t.set_requires_grad(true);
    return t;
}

extern "C" int shim_create_teacher_cnn(const char *path, int channels, int height, int width,
                                       int classes, uint64_t seed, char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    try {
        if (!path || !*path) throw std::invalid_argument("path is empty");
        if (channels < 1 || channels > 64) throw std::invalid_argument("channels must be 1..64");
        if (height < 4 || width < 4 || height > 4096 || width > 4096)
            throw std::invalid_argument("height and width must be 4..4096");
        if (classes < 1 || classes > 100000) throw std::invalid_argument("classes must be 1..100000");

        at::Generator gen = at::detail::createCPUGenerator(seed);
        torch::jit::Module mod("InficondTeacherCNN");
        const int64_t C = channels, K = classes, F = CNN_C2 * CNN_POOL * CNN_POOL;
        mod.register_parameter("conv1_w", uniform_param({CNN_C1, C, 3, 3}, C * 9, gen), false);
        mod.register_parameter("conv1_b", uniform_param({CNN_C1}, C * 9, gen), false);
        mod.register_parameter("conv2_w", uniform_param({CNN_C2, CNN_C1, 3, 3}, CNN_C1 * 9, gen), false);
        mod.register_parameter("conv2_b", uniform_param({CNN_C2}, CNN_C1 * 9, gen), false);
        mod.register_parameter("fc_w", uniform_param({K, F}, F, gen), false);
        mod.register_parameter("fc_b", uniform_param({K}, F, gen), false);
        mod.define(TEACHER_CNN_SRC);
        mod.eval();

        // Probe once so a shape mistake surfaces here, not in the caller's first batch.
        {
            torch::NoGradGuard no_grad;
            at::Tensor y = mod.forward({torch::zeros({1, C, height, width})}).toTensor();
            if (y.dim() != 2 || y.size(0) != 1 || y.size(1) != K)
                throw std::runtime_error("probe gave shape " + c10::str(y.sizes()));
        }
        mod.save(path);
        return 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, "teacher cnn");
        return -1;
    }
}
