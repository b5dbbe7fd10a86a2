/* SPDX-License-Identifier: MIT */
#include "json-util.h"
#include "node.h"
#include "yaml-load.h"

/* Read-only keys replace whatever the attributes had under the same name. */
static int set_readonly(json_object *node, json_object *readonly) {
        json_object_object_foreach(readonly, key, val) {
                json_object *copy = NULL;

                if (yaml_copy(val, &copy) < 0)
                        return -ENOMEM;
                json_object_object_add(node, key, copy);
        }
        return 0;
}

int node_build(CookbookSet *cookbooks, json_object **layers, size_t n_layers, json_object *readonly,
               json_object **ret) {
        _cleanup_json_ json_object *node = json_object_new_object();
        int k;

        if (!node)
                return -ENOMEM;
        for (size_t i = 0; i < cookbook_set_size(cookbooks); i++) {
                k = json_merge(node, cookbook_set_at(cookbooks, i)->attributes);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < n_layers; i++) {
                if (!layers[i])
                        continue;
                k = json_merge(node, layers[i]);
                if (k < 0)
                        return k;
        }
        if (readonly) {
                k = set_readonly(node, readonly);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(node);
        return 0;
}
