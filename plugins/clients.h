/* clients.h: the `clients` member of the deny-scopes and ip-allowlist
 * configs, a map from client ids to lists that the plugin reads with its
 * own reader (scope patterns, networks). Included by those plugins. */

/* list_reader reads one list, naming it `at` in its errors, into out. */
typedef int (*list_reader)(sl_json list, sl_str at, void *out);

typedef struct client_lists {
  sl_str *ids;
  char *lists; /* count lists of `size` bytes each */
  uint32_t count, size;
} client_lists;

/* read_clients reads v (absent, null, or an object of client ids to lists)
 * into out; what says what the lists hold, for an error. */
static int read_clients(sl_json v, const char *what, list_reader read, uint32_t size, client_lists *out) {
  sl_json_iter it = sl_json_iterate(v);
  sl_json k, list;
  out->count = 0;
  out->size = size;
  if (sl_json_type(v) == SL_JSON_NONE || sl_json_type(v) == SL_JSON_NULL) return SL_OK;
  if (sl_json_type(v) != SL_JSON_OBJECT) {
    sl_buf b = sl_buf_new();
    sl_buf_add(&b, "config: clients: want client ids and their lists of "), sl_buf_add(&b, what);
    return sl_fail(b.ptr);
  }
  out->ids = (sl_str *)sl_alloc(sl_json_len(v) * (uint32_t)sizeof(sl_str));
  out->lists = (char *)sl_alloc(sl_json_len(v) * size);
  while (sl_json_next(&it, &k, &list)) {
    sl_buf at = sl_buf_new();
    out->ids[out->count] = sl_json_str(k);
    sl_buf_add(&at, "clients."), sl_buf_adds(&at, out->ids[out->count]);
    if (read(list, sl_strn(at.ptr, at.len), out->lists + out->count * size) != SL_OK) return SL_FAILED;
    out->count++;
  }
  return SL_OK;
}

/* client_list returns the list of the client id, or NULL. */
static const void *client_list(const client_lists *c, sl_str id) {
  for (uint32_t i = 0; i < c->count; i++)
    if (sl_eq(c->ids[i], id)) return c->lists + i * c->size;
  return NULL;
}
