#ifndef ORCH_JSON_EMIT_H
#define ORCH_JSON_EMIT_H

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* Writes a parsed yajl tree back out through a generator. */
void orch_json_emit(yajl_gen g, yajl_val v);

#endif
