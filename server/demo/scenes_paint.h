/* scenes_paint.h — painting one planned scene (scenes_paint.c): background
 * textures and items. scenes.c plans scenes and calls these; nothing else does. */
#ifndef INFICOND_SCENES_PAINT_H
#define INFICOND_SCENES_PAINT_H

#include <stdint.h>

#include "demo/scenes.h"

#define FM_SIDE 28 /* Fashion-MNIST images are 28x28 grey */

/* Background kinds and colours, in the order of their words (scenes.c). */
enum { BG_GRASS, BG_WATER, BG_SAND, BG_WOOD, BG_BRICK, BG_SNOW };
enum { COL_RED, COL_BLUE, COL_GREEN, COL_YELLOW, COL_BLACK, COL_WHITE };

/* splitmix64's finaliser: the hash every generator in the demo world derives from. */
uint64_t scenes_hash64(uint64_t z);

/* Draw background `kind` into rgb (SCENES_SIZE, SCENES_SIZE, 3), values roughly 0..1;
 * `bright` scales the whole texture so one kind is not one fixed brightness. */
void scenes_draw_background(int kind, uint64_t seed, float bright, float *rgb);

/* Composite one Fashion-MNIST image (28, 28), tinted, outlined and shadowed, into rgb
 * (SCENES_SIZE, SCENES_SIZE, 3) over the item's box. */
void scenes_draw_item(const uint8_t *img /* (28, 28) */, const scene_item *it, float *rgb);

#endif
