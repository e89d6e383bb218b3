/* assets.c: lookup in the embedded dashboard assets. */
#include <string.h>

#include "web_internal.h"

const struct web_asset *web_asset_find(const char *path)
{
    for (size_t i = 0; i < web__asset_count; i++)
        if (strcmp(web__assets[i].path, path) == 0)
            return &web__assets[i];
    return NULL;
}

const struct web_asset *web_assets(size_t *n)
{
    *n = web__asset_count;
    return web__assets;
}
