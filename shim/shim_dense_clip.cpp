// shim_dense_clip.cpp — dense per-patch features from an OpenAI-layout CLIP ViT archive
// (NACLIP / MaskCLIP last block); the rule is in shim_dense_clip.h.
//
// The runner reads the archive's visual.* parameters by name once (sharing their
// storage when they are float32 and contiguous, as after the OpenAI patch) and runs the
// tower with ATen ops, batch first ((G, T, W) where OpenAI's code is (T, N, W)). Images
// go through the whole tower in groups of about DENSE_GROUP_ROWS tokens: the weights
// are streamed once per group, and a group's activations (the MLP's (G*T, 4W) hidden
// layer is the largest) stay in cache, where a whole batch's would not (32 images of
// ViT-B/16: 77 MB per elementwise pass). Residual adds are folded into the GEMMs
// (addmm_ into x), q is scaled in place, the NACLIP block computes only k and v.
// INFICOND_DENSE_ROWS overrides the group size (an experiment knob).
//
// Shapes: N images, G of them per group, 3 x H x W input, patch p, grid gh x gw,
// P = gh*gw patches, T = 1 + P tokens, W width, nh heads of dh = W / nh, M MLP width,
// E output size.
#include "shim_dense_clip.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "shim_internal.h"
#include "shim_model_impl.h"

namespace {

constexpr double LN_EPS = 1e-5;         // nn.LayerNorm's default, which OpenAI's CLIP uses
constexpr int64_t DENSE_GROUP_ROWS = 512;
constexpr double CHECK_TOLERANCE = 1e-3;  // relative L2 gap that counts as agreement

enum class dense_rule { plain, naclip, maskclip };

struct block_params {
    at::Tensor ln1_w, ln1_b;   // (W)
    at::Tensor in_w, in_b;     // (3W, W), (3W): q | k | v rows
    at::Tensor out_w, out_b;   // (W, W), (W)
    at::Tensor ln2_w, ln2_b;   // (W)
    at::Tensor fc_w, fc_b;     // (M, W), (M)
    at::Tensor proj_w, proj_b; // (W, M), (W)
};

using param_map = std::unordered_map<std::string, at::Tensor>;

}  // namespace

struct shim_dense_clip {
    shim_clip_vit_info info{};
    dense_rule rule = dense_rule::naclip;
    double gaussian_std = 5.0;
    std::string image_method;
    at::Tensor conv_w;                 // (W, 3*p*p): conv1's kernel as a matrix
    at::Tensor cls;                    // (W)
    at::Tensor pos;                    // (1 + g*g, W)
    at::Tensor ln_pre_w, ln_pre_b;     // (W)
    std::vector<block_params> blocks;  // (L)
    at::Tensor ln_post_w, ln_post_b;   // (W)
    at::Tensor proj;                   // (W, E)
    // Per grid (gh, gw): positional embeddings (T, W) and the NACLIP prior (T, T).
    std::map<std::pair<int64_t, int64_t>, at::Tensor> pos_at, prior_at;
};

/* ---- reading the archive --------------------------------------------------- */

static param_map visual_params(const torch::jit::Module &mod) {
    param_map out;
    for (const auto &p : mod.named_parameters(true))
        if (p.name.rfind("visual.", 0) == 0) out.emplace(p.name, p.value.detach());
    for (const auto &b : mod.named_buffers(true))
        if (b.name.rfind("visual.", 0) == 0) out.emplace(b.name, b.value.detach());
    return out;
}

static bool has_prefix(const param_map &p, const std::string &prefix) {
    for (const auto &kv : p)
        if (kv.first.rfind(prefix, 0) == 0) return true;
    return false;
}

static std::string shape_text(at::IntArrayRef s) {
    std::string t = "[";
    for (size_t i = 0; i < s.size(); i++) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}

// visual.<name> as float32 contiguous (shared when it already is), with its shape
// checked against `want` (-1: any size >= 1).
static at::Tensor need(const param_map &p, const std::string &name, const std::vector<int64_t> &want) {
    auto it = p.find("visual." + name);
    if (it == p.end()) throw std::runtime_error("the archive has no parameter 'visual." + name + "'");
    const at::Tensor &t = it->second;
    bool ok = t.dim() == (int64_t)want.size();
    for (size_t d = 0; ok && d < want.size(); d++) ok = want[d] < 0 ? t.size((int64_t)d) >= 1 : t.size((int64_t)d) == want[d];
    if (!ok) {
        std::string w = "[";
        for (size_t d = 0; d < want.size(); d++) w += (d ? ", " : "") + (want[d] < 0 ? std::string("*") : std::to_string(want[d]));
        throw std::runtime_error("parameter 'visual." + name + "' has shape " + shape_text(t.sizes()) + ", expected " +
                                 w + "]");
    }
    return t.to(at::kFloat).contiguous();
}

// The tower's parameters and shape; throws with the first thing that is missing or wrong.
static std::shared_ptr<shim_dense_clip> read_tower(const torch::jit::Module &mod, int heads) {
    torch::NoGradGuard no_grad;
    param_map p = visual_params(mod);
    if (!p.count("visual.class_embedding") && !has_prefix(p, "visual.transformer.resblocks.")) {
        if (has_prefix(p, "visual.attnpool.") || has_prefix(p, "visual.layer1."))
            throw std::runtime_error(
                "dense mode needs a ViT image encoder; this archive's visual tower is a ResNet "
                "(visual.layer1, visual.attnpool): run it as a \"global\" model");
        throw std::runtime_error(p.empty() ? "dense mode needs a ViT image encoder; the archive has no visual.* "
                                             "parameters (OpenAI's CLIP layout)"
                                           : "dense mode needs a ViT image encoder; the archive's visual tower has "
                                             "no visual.class_embedding or visual.transformer.resblocks");
    }
    auto d = std::make_shared<shim_dense_clip>();
    shim_clip_vit_info &info = d->info;
    {
        auto it = p.find("visual.conv1.weight");
        if (it == p.end()) throw std::runtime_error("the archive has no parameter 'visual.conv1.weight'");
        const at::Tensor &c = it->second;
        if (c.dim() != 4 || c.size(1) != 3 || c.size(2) != c.size(3) || c.size(2) < 1)
            throw std::runtime_error("parameter 'visual.conv1.weight' has shape " + shape_text(c.sizes()) +
                                     ", expected [W, 3, p, p]");
        info.width = (int)c.size(0);
        info.patch = (int)c.size(2);
    }
    const int64_t W = info.width, p2 = 3 * (int64_t)info.patch * info.patch;
    d->conv_w = need(p, "conv1.weight", {W, 3, info.patch, info.patch}).view({W, p2});
    d->cls = need(p, "class_embedding", {W});
    d->pos = need(p, "positional_embedding", {-1, W});
    const int64_t g = (int64_t)std::llround(std::sqrt((double)(d->pos.size(0) - 1)));
    if (g < 1 || g * g + 1 != d->pos.size(0))
        throw std::runtime_error("parameter 'visual.positional_embedding' has " + std::to_string(d->pos.size(0)) +
                                 " rows, not 1 + a square grid");
    info.grid = (int)g;
    d->ln_pre_w = need(p, "ln_pre.weight", {W});
    d->ln_pre_b = need(p, "ln_pre.bias", {W});

    int64_t layers = 0;
    while (has_prefix(p, "visual.transformer.resblocks." + std::to_string(layers) + ".")) layers++;
    if (layers == 0) throw std::runtime_error("the archive has no parameter 'visual.transformer.resblocks.0.ln_1.weight'");
    info.layers = (int)layers;
    for (int64_t i = 0; i < layers; i++) {
        const std::string b = "transformer.resblocks." + std::to_string(i) + ".";
        block_params bp;
        bp.ln1_w = need(p, b + "ln_1.weight", {W});
        bp.ln1_b = need(p, b + "ln_1.bias", {W});
        bp.in_w = need(p, b + "attn.in_proj_weight", {3 * W, W});
        bp.in_b = need(p, b + "attn.in_proj_bias", {3 * W});
        bp.out_w = need(p, b + "attn.out_proj.weight", {W, W});
        bp.out_b = need(p, b + "attn.out_proj.bias", {W});
        bp.ln2_w = need(p, b + "ln_2.weight", {W});
        bp.ln2_b = need(p, b + "ln_2.bias", {W});
        bp.fc_w = need(p, b + "mlp.c_fc.weight", {-1, W});
        const int64_t M = bp.fc_w.size(0);
        if (i == 0) info.mlp = (int)M;
        if (M != info.mlp) throw std::runtime_error("parameter 'visual." + b + "mlp.c_fc.weight' has " +
                                                    std::to_string(M) + " rows where block 0 has " + std::to_string(info.mlp));
        bp.fc_b = need(p, b + "mlp.c_fc.bias", {M});
        bp.proj_w = need(p, b + "mlp.c_proj.weight", {W, M});
        bp.proj_b = need(p, b + "mlp.c_proj.bias", {W});
        d->blocks.push_back(std::move(bp));
    }
    d->ln_post_w = need(p, "ln_post.weight", {W});
    d->ln_post_b = need(p, "ln_post.bias", {W});
    d->proj = need(p, "proj", {W, -1});
    info.embed = (int)d->proj.size(1);

    if (heads < 0) throw std::invalid_argument("heads must be >= 0");
    if (heads == 0) {
        if (W % 64) throw std::runtime_error("width " + std::to_string(W) + " is not a multiple of 64: give the head count");
        heads = (int)(W / 64);  // OpenAI's rule (vision_heads = vision_width // 64)
    }
    if (W % heads) throw std::runtime_error("width " + std::to_string(W) + " is not divisible by " +
                                            std::to_string(heads) + " heads");
    info.heads = heads;
    return d;
}

/* ---- the forward ----------------------------------------------------------- */

// (G*T, n*W) rows packed [part 0 | part 1 | ...] -> (n, G*nh, T, dh), contiguous.
static at::Tensor split_heads(const at::Tensor &packed, int64_t G, int64_t T, int64_t n, int64_t nh) {
    const int64_t dh = packed.size(1) / (n * nh);
    return packed.view({G, T, n, nh, dh}).permute({2, 0, 3, 1, 4}).reshape({n, G * nh, T, dh});
}

// (G*nh, T, dh) -> (G*T, nh*dh), heads side by side as out_proj expects.
static at::Tensor merge_heads(const at::Tensor &o, int64_t G, int64_t nh) {
    const int64_t T = o.size(1), dh = o.size(2);
    return o.view({G, nh, T, dh}).permute({0, 2, 1, 3}).reshape({G * T, nh * dh});
}

// OpenAI's QuickGELU, in place: h * sigmoid(1.702 h).
static void quick_gelu_(at::Tensor &h) {
    at::Tensor s = h.mul(1.702);
    s.sigmoid_();
    h.mul_(s);
}

// (G, 3, H, W) -> ln_pre(class token, patch embeddings + positions) (G, T, W).
static at::Tensor embed(const shim_dense_clip &d, const at::Tensor &x, const at::Tensor &pos) {
    const int64_t G = x.size(0), p = d.info.patch, gh = x.size(2) / p, gw = x.size(3) / p, P = gh * gw;
    const int64_t W = d.info.width;
    // conv1 (stride = kernel = p, no bias) as one GEMM over the patches' pixels
    at::Tensor cols = x.view({G, 3, gh, p, gw, p}).permute({0, 2, 4, 1, 3, 5}).reshape({G * P, 3 * p * p});
    at::Tensor tok = at::empty({G, 1 + P, W}, x.options());
    tok.narrow(1, 1, P).copy_(at::mm(cols, d.conv_w.t()).view({G, P, W}));
    tok.select(1, 0).copy_(d.cls.expand({G, W}));
    tok.add_(pos);
    return at::layer_norm(tok, {W}, d.ln_pre_w, d.ln_pre_b, LN_EPS);
}

// One residual attention block as trained, x (G, T, W) updated in place.
static void block_full(const block_params &b, at::Tensor &x, int64_t nh) {
    const int64_t G = x.size(0), T = x.size(1), W = x.size(2);
    at::Tensor x2 = x.view({G * T, W});
    at::Tensor qkv = split_heads(at::addmm(b.in_b, at::layer_norm(x2, {W}, b.ln1_w, b.ln1_b, LN_EPS), b.in_w.t()),
                                 G, T, 3, nh);  // (3, G*nh, T, dh)
    at::Tensor q = qkv[0];
    q.mul_(1.0 / std::sqrt((double)(W / nh)));
    at::Tensor probs = at::softmax(at::bmm(q, qkv[1].transpose(1, 2)), -1);  // (G*nh, T, T)
    x2.addmm_(merge_heads(at::bmm(probs, qkv[2]), G, nh), b.out_w.t()).add_(b.out_b);
    at::Tensor h = at::addmm(b.fc_b, at::layer_norm(x2, {W}, b.ln2_w, b.ln2_b, LN_EPS), b.fc_w.t());  // (G*T, M)
    quick_gelu_(h);
    x2.addmm_(h, b.proj_w.t()).add_(b.proj_b);
}

// The last block by the dense rule, then ln_post and proj on the patches: (G, P, E).
static at::Tensor block_dense(const shim_dense_clip &d, const block_params &b, const at::Tensor &x,
                              const at::Tensor &prior) {
    const int64_t G = x.size(0), T = x.size(1), W = x.size(2), nh = d.info.heads;
    at::Tensor y = at::layer_norm(x.view({G * T, W}), {W}, b.ln1_w, b.ln1_b, LN_EPS);
    at::Tensor o;  // (G*T, W) attention output before out_proj
    if (d.rule == dense_rule::naclip) {
        // only k and v: rows W..3W of the packed projection (q is never used)
        at::Tensor kv = split_heads(at::addmm(b.in_b.narrow(0, W, 2 * W), y, b.in_w.narrow(0, W, 2 * W).t()), G, T, 2, nh);
        at::Tensor k = kv[0];
        at::Tensor logits = at::baddbmm(prior.expand({G * nh, T, T}), k, k.transpose(1, 2), 1.0,
                                        1.0 / std::sqrt((double)(W / nh)));
        o = merge_heads(at::bmm(at::softmax(logits, -1), kv[1]), G, nh);
    } else {  // maskclip: each token's own value
        o = at::addmm(b.in_b.narrow(0, 2 * W, W), y, b.in_w.narrow(0, 2 * W, W).t());
    }
    at::Tensor a = at::addmm(b.out_b, o, b.out_w.t()).view({G, T, W});  // no residual, no MLP
    return at::matmul(at::layer_norm(a.narrow(1, 1, T - 1), {W}, d.ln_post_w, d.ln_post_b, LN_EPS), d.proj);
}

// Positional embeddings for a gh x gw grid: the class position, then the archive's
// g x g patch grid resized bicubically (as F.interpolate(mode="bicubic",
// align_corners=False)) when the grid differs. Cached per grid.
static const at::Tensor &positional(shim_dense_clip &d, int64_t gh, int64_t gw) {
    const int64_t g = d.info.grid, W = d.info.width;
    if (gh == g && gw == g) return d.pos;
    auto key = std::make_pair(gh, gw);
    auto it = d.pos_at.find(key);
    if (it != d.pos_at.end()) return it->second;
    if (d.pos_at.size() >= 8) d.pos_at.clear();  // a model sees one or two sizes; never grow without bound
    at::Tensor grid = d.pos.narrow(0, 1, g * g).reshape({1, g, g, W}).permute({0, 3, 1, 2}).contiguous();
    at::Tensor r = at::upsample_bicubic2d(grid, {gh, gw}, false);  // (1, W, gh, gw)
    at::Tensor pos = at::cat({d.pos.narrow(0, 0, 1), r.permute({0, 2, 3, 1}).reshape({gh * gw, W})}, 0);
    return d.pos_at.emplace(key, pos).first->second;
}

// NACLIP's neighbourhood prior omega (T, T) for a gh x gw grid; cached per grid.
static const at::Tensor &gaussian_prior(shim_dense_clip &d, int64_t gh, int64_t gw, const at::TensorOptions &opt) {
    auto key = std::make_pair(gh, gw);
    auto it = d.prior_at.find(key);
    if (it != d.prior_at.end()) return it->second;
    if (d.prior_at.size() >= 8) d.prior_at.clear();
    const int64_t P = gh * gw, T = P + 1;
    std::vector<float> w((size_t)(T * T), 0.0f);  // the class token's row and column stay 0
    const double two_var = 2.0 * d.gaussian_std * d.gaussian_std;
    for (int64_t i = 0; i < P; i++)
        for (int64_t j = 0; j < P; j++) {
            const double dr = (double)(i / gw - j / gw), dc = (double)(i % gw - j % gw);
            w[(size_t)((1 + i) * T + 1 + j)] = (float)std::exp(-(dr * dr + dc * dc) / two_var);
        }
    at::Tensor prior = at::from_blob(w.data(), {T, T}, at::kFloat).to(opt.device()).clone();
    return d.prior_at.emplace(key, prior).first->second;
}

static int64_t group_size(int64_t T) {
    static const int64_t rows = [] {
        const char *s = getenv("INFICOND_DENSE_ROWS");
        long v = s ? strtol(s, nullptr, 10) : 0;
        return v > 0 ? (int64_t)v : DENSE_GROUP_ROWS;
    }();
    return rows / T > 1 ? rows / T : 1;
}

static void check_input(const shim_dense_clip &d, const at::Tensor &x) {
    const int64_t p = d.info.patch;
    if (x.dim() != 4 || x.size(1) != 3)
        throw std::invalid_argument("dense CLIP takes (N, 3, H, W) images, got " + shape_text(x.sizes()));
    if (x.size(2) < p || x.size(3) < p || x.size(2) % p || x.size(3) % p)
        throw std::invalid_argument("image " + std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)) +
                                    " is not a multiple of the patch size " + std::to_string(p));
}

at::Tensor shim_dense_clip_forward(shim_dense_clip &d, const at::Tensor &x_in) {
    check_input(d, x_in);
    const at::Tensor x = x_in.to(d.conv_w.options()).contiguous();
    const int64_t N = x.size(0), p = d.info.patch, gh = x.size(2) / p, gw = x.size(3) / p, P = gh * gw;
    const int64_t E = d.info.embed, L = d.info.layers;
    const at::Tensor &pos = positional(d, gh, gw);
    at::Tensor prior = d.rule == dense_rule::naclip ? gaussian_prior(d, gh, gw, x.options()) : at::Tensor();
    at::Tensor out = at::empty({N, E, P}, x.options());
    const int64_t G = group_size(P + 1);
    for (int64_t i = 0; i < N; i += G) {
        const int64_t n = N - i < G ? N - i : G;
        at::Tensor t = embed(d, x.narrow(0, i, n), pos);
        for (int64_t l = 0; l + 1 < L; l++) block_full(d.blocks[(size_t)l], t, d.info.heads);
        out.narrow(0, i, n).copy_(block_dense(d, d.blocks[(size_t)(L - 1)], t, prior).transpose(1, 2));
    }
    return out.view({N, E, gh, gw});
}

// OpenAI's VisionTransformer.forward with `heads` heads: (N, 3, H, W) -> (N, E).
static at::Tensor forward_plain(shim_dense_clip &d, const at::Tensor &x, int heads) {
    const int64_t p = d.info.patch;
    at::Tensor t = embed(d, x, positional(d, x.size(2) / p, x.size(3) / p));
    for (const block_params &b : d.blocks) block_full(b, t, heads);
    return at::matmul(at::layer_norm(t.select(1, 0), {d.info.width}, d.ln_post_w, d.ln_post_b, LN_EPS), d.proj);
}

/* ---- the C API ------------------------------------------------------------- */

extern "C" int shim_clip_vit_info_of(const shim_model *m, int heads, shim_clip_vit_info *info, char *errbuf,
                                     size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    try {
        if (!m || !info) throw std::invalid_argument("bad arguments");
        *info = read_tower(m->module, heads)->info;
        return 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, "");
        return -1;
    }
}

extern "C" double shim_clip_vit_flops(const shim_clip_vit_info *info, int height, int width, const char *mode) {
    if (!info || !mode || info->patch < 1 || height < info->patch || width < info->patch) return -1;
    const double W = info->width, M = info->mlp, E = info->embed, p = info->patch;
    const double P = (double)(height / info->patch) * (double)(width / info->patch), T = P + 1;
    const double embed = 2 * P * W * 3 * p * p;
    const double attn = 2 * 2 * T * T * W;  // logits and the weighted sum, over all heads
    const double full = 2 * T * W * 3 * W + attn + 2 * T * W * W + 2 * 2 * T * W * M;
    const double L = info->layers;
    if (!strcmp(mode, "plain")) return embed + L * full + 2 * W * E;
    if (!strcmp(mode, "naclip")) return embed + (L - 1) * full + 2 * T * W * 2 * W + attn + 2 * T * W * W + 2 * P * W * E;
    if (!strcmp(mode, "maskclip")) return embed + (L - 1) * full + 2 * 2 * T * W * W + 2 * P * W * E;
    return -1;
}

extern "C" int shim_model_dense_clip(shim_model *m, const char *image_method, const char *method, double gaussian_std,
                                     int heads, char *errbuf, size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    try {
        if (!m || !image_method || !*image_method || !method) throw std::invalid_argument("bad arguments");
        dense_rule rule;
        if (!strcmp(method, "naclip")) rule = dense_rule::naclip;
        else if (!strcmp(method, "maskclip")) rule = dense_rule::maskclip;
        else throw std::invalid_argument(std::string("unknown method '") + method + "' (naclip or maskclip)");
        if (rule == dense_rule::naclip && !(gaussian_std > 0 && std::isfinite(gaussian_std)))
            throw std::invalid_argument("gaussian_std must be a positive number");
        std::shared_ptr<shim_dense_clip> d = read_tower(m->module, heads);
        if (m->device != d->conv_w.device()) throw std::runtime_error("the archive's parameters are not on the model's device");
        d->rule = rule;
        d->gaussian_std = gaussian_std;
        d->image_method = image_method;
        std::lock_guard<std::mutex> lock(m->mu);
        m->dense = std::move(d);
        m->dense_method = image_method;
        return 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, "");
        return -1;
    }
}

extern "C" int shim_model_dense_clip_info(const shim_model *m, shim_clip_vit_info *info) {
    if (!m || !m->dense) return 0;
    if (info) *info = m->dense->info;
    return 1;
}

extern "C" int shim_model_dense_clip_check(shim_model *m, double *rel_err, int *agreeing_heads, char *errbuf,
                                           size_t errlen) {
    shim_put_error(errbuf, errlen, "");
    try {
        if (!m || !m->dense || !rel_err || !agreeing_heads) throw std::invalid_argument("bad arguments");
        shim_dense_clip &d = *m->dense;
        *rel_err = 0;
        *agreeing_heads = 0;
        c10::optional<torch::jit::Method> meth = m->module.find_method(d.image_method);
        if (!meth) throw std::invalid_argument("the model has no method '" + d.image_method + "'");
        // a fixed, non-degenerate image (zeros would make every patch alike and hide
        // a wrong head count), roughly in a normalised image's range
        const int64_t side = (int64_t)d.info.grid * d.info.patch;
        at::Tensor x = at::sin(at::arange(3 * side * side, d.conv_w.options()).mul(0.7311).add(0.3)).mul(1.5);
        x = x.view({1, 3, side, side});
        std::lock_guard<std::mutex> lock(m->mu);
        at::Tensor want;
        {
            torch::NoGradGuard no_grad;  // the archive's graph: as run_method runs it
            c10::IValue v = (*meth)({x});
            if (v.isTuple() && !v.toTupleRef().elements().empty()) v = v.toTupleRef().elements()[0];
            if (!v.isTensor()) throw std::runtime_error("method '" + d.image_method + "' returned " + v.tagKind());
            want = v.toTensor().to(d.conv_w.options()).reshape({1, -1});
        }
        c10::InferenceMode guard;
        auto gap = [&](int heads) {
            at::Tensor got = forward_plain(d, x, heads);
            if (got.sizes() != want.sizes()) return std::numeric_limits<double>::infinity();
            return (got - want).norm().item<double>() / std::max(want.norm().item<double>(), 1e-30);
        };
        *rel_err = gap(d.info.heads);
        if (!(*rel_err <= CHECK_TOLERANCE)) {
            for (int h = 1; h <= d.info.width; h++) {
                const int dh = d.info.width / h;
                if (d.info.width % h || h == d.info.heads || dh < 8 || dh > 256) continue;
                if (gap(h) <= CHECK_TOLERANCE) {
                    *agreeing_heads = h;
                    break;
                }
            }
        }
        return 0;
    } catch (...) {
        shim_report_current(errbuf, errlen, "dense CLIP check");
        return -1;
    }
}
