/* How much of what an image or a registry hands us the module reads, named
 * once for pulls, imports, the store and starts (hostile input: every read
 * is bounded). Pure: the archive reader (no libuv) includes it too; core.h
 * includes it for everyone else. */
#ifndef ORCH_CTD_LIMITS_H
#define ORCH_CTD_LIMITS_H

#define CTD_MAX_MANIFEST (4u << 20) /* index.json, an index, a manifest (JSON) */
#define CTD_MAX_CONFIG (8u << 20)   /* an image's config blob (JSON) */
#define CTD_MAX_INDEX_DEPTH 4       /* indexes inside indexes */
#define CTD_MAX_LAYERS 1024         /* layers of one manifest */
#define CTD_MAX_ETC_FILE (4u << 20) /* the image's /etc/passwd, /etc/group */

#endif
