/* model_manifest.h — a model folder's manifest.json ("inficond-model/1"), parsed and
 * validated.
 *
 * A model is a folder: manifest.json, the TorchScript file it names, and for a
 * concept model its tokenizer file. Loading checks every field against the format
 * README.md documents ("Models") and that every file the manifest names is a
 * regular file inside the folder (relative, no "..", no symlink out). Every error
 * is ERR_UNPROCESSABLE (or ERR_IO when the disk fails) with the field in the
 * message, e.g. "manifest.input.mean: expected 3 numbers". It does not load the
 * model itself: model_check.h does that.
 */
#ifndef INFICOND_MODEL_MANIFEST_H
#define INFICOND_MODEL_MANIFEST_H

#include <stddef.h>

#include "err.h"

#define MODEL_MANIFEST_FORMAT "inficond-model/1"
#define MODEL_MAX_CHANNELS 64
#define MODEL_MAX_SIDE 8192
#define MODEL_MAX_EMBEDDING 65536
#define MODEL_MAX_CONTEXT 4096
#define MODEL_MAX_CLASSES 100000

typedef enum { MODEL_KIND_TEACHER = 1, MODEL_KIND_CONCEPT = 2 } model_kind;
typedef enum { MODEL_ENCODER_NONE = 0, MODEL_ENCODER_DENSE, MODEL_ENCODER_GLOBAL } model_encoder;
typedef enum { MODEL_TOKENIZER_NONE = 0, MODEL_TOKENIZER_CLIP_BPE, MODEL_TOKENIZER_WORDS } model_tokenizer;
/* Who makes a dense encoder dense: the image method itself, or the shim running a
 * CLIP ViT archive by NACLIP's / MaskCLIP's last-block rule (shim_dense_clip.h). */
typedef enum { MODEL_DENSE_NATIVE = 0, MODEL_DENSE_CLIP_VIT } model_dense_from;

#define MODEL_DENSE_DEFAULT_STD 5.0 /* NACLIP's Gaussian prior, in patches */
#define MODEL_DENSE_MAX_HEADS 4096

/* Everything the manifest says. All strings are owned (model_manifest_free). Paths
 * ending in _path are the folder joined with the manifest's relative name. */
typedef struct model_manifest {
    char *dir;                 /* the folder as given to model_manifest_load        */
    model_kind kind;
    model_encoder encoder;     /* concept models; NONE for a teacher                */
    char *file;                /* as written, relative to dir                       */
    char *file_path;           /* dir/file                                          */
    int channels, height, width;
    float *mean;               /* (channels)                                        */
    float *std;                /* (channels), every entry > 0                       */
    char *method_forward;      /* teacher: methods.forward                          */
    char *method_image;        /* concept: methods.image                            */
    char *method_text;         /* concept: methods.text                             */
    char **classes;            /* (n_classes) teacher only, unique, non-empty       */
    size_t n_classes;
    int embedding_dim;         /* concept: D                                        */
    model_tokenizer tokenizer; /* concept                                           */
    char *tokenizer_file;      /* tokenizer.vocab (clip-bpe) or tokenizer.words     */
    char *tokenizer_path;      /* dir/tokenizer_file                                */
    int context_length;        /* concept: tokens per text                          */
    int patch_openai_jit;      /* -1 not given (detect), 0 or 1                     */
    /* "dense": {"from": "clip-vit", "method", "gaussian_std", "heads"} (dense only) */
    model_dense_from dense_from;
    char dense_method[16];     /* "naclip" (default) or "maskclip"                  */
    double dense_gaussian_std; /* naclip's prior width in patches, > 0 (default 5)  */
    int dense_heads;           /* attention heads; 0: width / 64 (OpenAI's rule)    */
} model_manifest;

/* Read and validate DIR/manifest.json into *m (zeroed first). On failure *m holds
 * nothing to free and -1 is returned with e set. */
int model_manifest_load(const char *dir, model_manifest *m, err *e) WARN_UNUSED;
/* Validate an already-read manifest text as if it sat in DIR (files are checked in
 * DIR). Same contract as model_manifest_load. */
int model_manifest_parse(const char *dir, const char *json_text, model_manifest *m,
                         err *e) WARN_UNUSED;
/* Free what *m owns and zero it. NULL-safe. */
void model_manifest_free(model_manifest *m);

/* "teacher" / "concept", "dense" / "global" / "none", "clip-bpe" / "words" / "none". */
const char *model_kind_name(model_kind k);
const char *model_encoder_name(model_encoder enc);
const char *model_tokenizer_name(model_tokenizer t);

#endif
