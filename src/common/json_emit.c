#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "common/json_emit.h"

/* Writes a parsed yajl tree back out through a generator. */
void orch_json_emit(yajl_gen g, yajl_val v)
{
    if (!v || YAJL_IS_NULL(v)) {
        yajl_gen_null(g);
    } else if (YAJL_IS_STRING(v)) {
        const char *s = YAJL_GET_STRING(v);
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
    } else if (YAJL_IS_NUMBER(v)) {
        const char *n = YAJL_GET_NUMBER(v);
        yajl_gen_number(g, n, strlen(n));
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));
    } else if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < YAJL_GET_ARRAY(v)->len; i++)
            orch_json_emit(g, YAJL_GET_ARRAY(v)->values[i]);
        yajl_gen_array_close(g);
    } else if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t i = 0; i < YAJL_GET_OBJECT(v)->len; i++) {
            const char *k = YAJL_GET_OBJECT(v)->keys[i];
            yajl_gen_string(g, (const unsigned char *)k, strlen(k));
            orch_json_emit(g, YAJL_GET_OBJECT(v)->values[i]);
        }
        yajl_gen_map_close(g);
    }
}
