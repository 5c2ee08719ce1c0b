/* scopeline.h: Scopeline hook ABI v1 for C (docs/hook-abi.md).
 *
 * A hook defines scopeline_run (and may define scopeline_init), marks
 * itself with SCOPELINE_ABI_V1, and is built as a WASI reactor:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -o hook.wasm hook.c
 */
#ifndef SCOPELINE_H
#define SCOPELINE_H

#include <stdint.h>

#define SL_IMPORT(name) __attribute__((import_module("scopeline"), import_name(#name)))
#define SL_EXPORT(name) __attribute__((export_name(#name)))

/* Field ids of sl_field. */
enum {
  SL_FIELD_TRIGGER = 1, SL_FIELD_GRANT_TYPE = 2, SL_FIELD_CLIENT_ID = 3,
  SL_FIELD_CLIENT_NAME = 4, SL_FIELD_AUDIENCE = 5, SL_FIELD_REQUESTED_SCOPES = 6,
  SL_FIELD_SCOPES = 7, SL_FIELD_SUBJECT = 8, SL_FIELD_USER_ID = 9, SL_FIELD_IP = 10,
  SL_FIELD_USER_AGENT = 11, SL_FIELD_REQUEST_ID = 12, SL_FIELD_CONFIG = 13,
  SL_FIELD_HOOK_NAME = 14, SL_FIELD_TIME = 15, SL_FIELD_TIME_UNIX = 16,
  SL_FIELD_CLIENT_TYPE = 17, SL_FIELD_GRANT_SCOPES = 18,
};

/* Status codes: getters return a length >= 0 (the value was written if it
 * fits the buffer), or one of these. */
enum { SL_OK = 0, SL_ABSENT = -1, SL_NO_FIELD = -2, SL_NOT_IN_RUN = -3 };

/* Return codes of scopeline_run and scopeline_init. */
enum { SL_RETURN_OK = 0, SL_RETURN_ERROR = 1 };

/* Log levels. */
enum { SL_DEBUG = 0, SL_INFO = 1, SL_WARN = 2, SL_ERROR = 3 };

SL_IMPORT(input) int32_t sl_input(char *buf, uint32_t cap);
SL_IMPORT(field) int32_t sl_field(int32_t id, char *buf, uint32_t cap);
SL_IMPORT(client_metadata) int32_t sl_client_metadata(const char *key, uint32_t key_len, char *buf, uint32_t cap);
SL_IMPORT(secret) int32_t sl_secret(const char *name, uint32_t name_len, char *buf, uint32_t cap);
SL_IMPORT(has_scope) int32_t sl_has_scope(const char *scope, uint32_t scope_len);
SL_IMPORT(add_scope) int32_t sl_add_scope(const char *scope, uint32_t scope_len, const char *reason, uint32_t reason_len);
SL_IMPORT(remove_scope) int32_t sl_remove_scope(const char *scope, uint32_t scope_len, const char *reason, uint32_t reason_len);
SL_IMPORT(set_claim) int32_t sl_set_claim(const char *name, uint32_t name_len, const char *json, uint32_t json_len, const char *reason, uint32_t reason_len);
SL_IMPORT(remove_claim) int32_t sl_remove_claim(const char *name, uint32_t name_len, const char *reason, uint32_t reason_len);
SL_IMPORT(deny) int32_t sl_deny(const char *code, uint32_t code_len, const char *reason, uint32_t reason_len);
SL_IMPORT(log) int32_t sl_log(int32_t level, const char *msg, uint32_t msg_len);

/* SCOPELINE_ABI_V1 defines the ABI marker export; put it in one file. */
#define SCOPELINE_ABI_V1 SL_EXPORT(scopeline_abi_v1) void scopeline_abi_v1(void) {}

/* SL_STR passes a string literal as pointer and length. */
#define SL_STR(s) (s), (uint32_t)(sizeof(s) - 1)

#endif
