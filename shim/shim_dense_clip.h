/* shim_dense_clip.h — per-patch CLIP features from an OpenAI-layout ViT archive, in one
 * pass, with no retraining (NACLIP's last-block rule; MaskCLIP's as a second choice).
 *
 * A CLIP ViT's image method gives one vector per image. With dense mode on, the shim
 * runs the archive's own visual.* parameters itself (OpenAI names, read at the call
 * that turns it on) and, for a ViT with L blocks:
 *   blocks 0..L-2 as trained (x += attn(ln_1(x)); x += mlp(ln_2(x)); QuickGELU),
 *   block L-1: attention only, on ln_1(x), no residual and no MLP —
 *     naclip:   softmax(k k^T / sqrt(d_head) + omega) v, omega[i, j] =
 *               exp(-((r_i - r_j)^2 + (c_i - c_j)^2) / (2 std^2)) between patch tokens
 *               at grid (r, c), 0 in the class token's row and column; then out_proj
 *     maskclip: every token attends only to itself: out_proj(v)
 *   ln_post and proj on every patch token -> (N, E, H/p, W/p).
 * Inputs of another size than the archive's (any multiple of the patch) get the
 * positional embeddings' patch grid resized bicubically (align_corners=False).
 *
 * Same error and thread rules as inficond_shim.h: short messages in errbuf, runs on
 * one handle serialised by the model's mutex.
 */
#ifndef INFICOND_SHIM_DENSE_CLIP_H
#define INFICOND_SHIM_DENSE_CLIP_H

#include <stddef.h>

#include "inficond_shim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shape of an OpenAI-layout ViT image tower, read from its parameters. */
typedef struct shim_clip_vit_info {
    int patch;  /* p: conv1's kernel and stride                      */
    int width;  /* W: token width                                     */
    int layers; /* L: residual attention blocks                       */
    int mlp;    /* the MLP's hidden width (4W in OpenAI's models)      */
    int heads;  /* the head count in use (given, or W / 64 as OpenAI) */
    int embed;  /* E: visual.proj's output size                       */
    int grid;   /* g: the archive's own grid (input g*p x g*p)         */
} shim_clip_vit_info;

/* Read m's visual tower (heads: 0 for W / 64). Returns 0, or -1 with the reason:
 * "dense mode needs a ViT image encoder ..." (no ViT: a ResNet CLIP, or no visual.*
 * parameters), "the archive has no parameter 'visual.proj'" (the first missing one in
 * forward order), or a parameter of the wrong shape. */
int shim_clip_vit_info_of(const shim_model *m, int heads, shim_clip_vit_info *info, char *errbuf, size_t errlen);

/* Floating-point operations (2 per multiply-add, over every matrix product including
 * attention's) of one height x width image through the tower, as `mode` runs it:
 * "naclip" or "maskclip" (the dense last block, ln_post and proj on every patch) or
 * "plain" (OpenAI's forward, the class token out). -1 for another mode. */
double shim_clip_vit_flops(const shim_clip_vit_info *info, int height, int width, const char *mode);

/* Turn dense mode on: from now on runs of `image_method` on m (shim_model_run,
 * shim_model_run_tensor) take (N, 3, H, W) float32 with H, W multiples of the patch
 * and return (N, E, H/p, W/p). method "naclip" (gaussian_std > 0, in patches) or
 * "maskclip"; heads 0 for W / 64. Fails as shim_clip_vit_info_of does. Parameters
 * that are float32 and contiguous are shared with the module, not copied. Not
 * concurrent with runs on m. Returns 0 or -1. */
int shim_model_dense_clip(shim_model *m, const char *image_method, const char *method, double gaussian_std,
                          int heads, char *errbuf, size_t errlen);

/* 1 when m is in dense mode, else 0; *info (nullable) then describes the tower. */
int shim_model_dense_clip_info(const shim_model *m, shim_clip_vit_info *info);

/* Check the dense runner's reading of the archive against the archive's own graph:
 * OpenAI's forward computed by the runner (every block as trained, ln_post on the class
 * token, @ proj) vs the archive's image method, on one fixed pseudo-random image at the
 * archive's own size. *rel_err = ||ours - archive|| / ||archive||. When that is above
 * 1e-3, *agreeing_heads is a head count under which they agree (0: none does: not
 * OpenAI's ViT arithmetic). Returns 0, or -1 with the reason (the method failed). */
int shim_model_dense_clip_check(shim_model *m, double *rel_err, int *agreeing_heads, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
