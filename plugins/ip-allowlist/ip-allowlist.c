/* ip-allowlist: the ip-allowlist plugin, in C with scopeline.h. It denies
 * requests whose IP address is outside configured networks, for every
 * client or per client.
 *
 * Config (docs/hooks.md):
 *
 *   cidrs: [10.0.0.0/8, "2001:db8::/32"]   # allowed for every client
 *   clients:                                # allowed for these clients,
 *     partner-sync: [198.51.100.0/24]       # instead of cidrs
 *   allow_unknown: false                    # a request without an IP is denied
 *
 * Addresses and networks are read as Go's net/netip reads them (IPv4 in
 * four decimal fields without leading zeros, IPv6 per RFC 4291); a
 * network may be a bare address; IPv4-mapped IPv6 addresses and networks
 * count as IPv4. The IP is the connection's, or the X-Forwarded-For one
 * when the issuer trusts the proxy (serve --trusted-proxy).
 * Build: plugins/build.sh.
 */
#include "scopeline.h"
#include "../clients.h"

typedef struct addr {
  uint8_t b[16]; /* IPv4 in b[0..4] */
  int is4;
  sl_str zone;
} addr;

typedef struct prefix {
  addr a;
  int bits;
} prefix;

typedef struct network_list {
  prefix *items;
  uint32_t count;
} network_list;

/* The parsed config: kept from setup for the instance's life. */
static network_list all_clients;
static client_lists per_client; /* of network_list */
static int allow_unknown;

static int parse4(const char *p, uint32_t n, uint8_t *out) {
  uint32_t i = 0;
  for (int field = 0; field < 4; field++) {
    uint32_t start = i, v = 0;
    if (field > 0) {
      if (i >= n || p[i] != '.') return 0;
      start = ++i;
    }
    while (i < n && p[i] >= '0' && p[i] <= '9' && i - start < 3) v = v * 10 + (uint32_t)(p[i++] - '0');
    if (i == start || v > 255 || (i - start > 1 && p[start] == '0')) return 0;
    out[field] = (uint8_t)v;
  }
  return i == n;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse6(const char *p, uint32_t n, uint8_t *out) {
  int groups = 0, ellipsis = -1;
  uint32_t i = 0;
  if (n >= 2 && p[0] == ':' && p[1] == ':') {
    ellipsis = 0;
    i = 2;
    if (i == n) {
      memset(out, 0, 16);
      return 1;
    }
  }
  while (i < n) {
    uint32_t start = i, v = 0;
    int d;
    while (i < n && (d = hexval(p[i])) >= 0 && i - start < 4) v = v * 16 + (uint32_t)d, i++;
    if (i == start) return 0;
    if (i < n && p[i] == '.') { /* an IPv4 tail */
      if (ellipsis < 0 && groups != 6) return 0;
      if (groups > 6 || !parse4(p + start, n - start, out + 2 * groups)) return 0;
      groups += 2;
      i = n;
      break;
    }
    if (groups >= 8) return 0;
    out[2 * groups] = (uint8_t)(v >> 8);
    out[2 * groups + 1] = (uint8_t)v;
    groups++;
    if (i == n) break;
    if (p[i] != ':') return 0;
    i++;
    if (i < n && p[i] == ':') {
      if (ellipsis >= 0) return 0;
      ellipsis = groups;
      i++;
      if (i == n) break;
    } else if (i == n) {
      return 0; /* a trailing single ':' */
    }
  }
  if (ellipsis < 0) return groups == 8;
  if (groups >= 8) return 0; /* "::" must stand for at least one zero field */
  {
    int tail = groups - ellipsis, shift = 8 - groups;
    for (int g = groups - 1; g >= ellipsis; g--) {
      out[2 * (g + shift)] = out[2 * g];
      out[2 * (g + shift) + 1] = out[2 * g + 1];
    }
    memset(out + 2 * ellipsis, 0, (size_t)(2 * shift));
    (void)tail;
  }
  return 1;
}

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* parse_addr reads an address (an IPv6 one may have a zone); IPv4-mapped
 * IPv6 addresses become IPv4. */
static int parse_addr(sl_str s, addr *a) {
  uint32_t n = s.len, i;
  memset(a, 0, sizeof *a);
  if (s.ptr == NULL || n == 0) return 0;
  for (i = 0; i < n; i++)
    if (s.ptr[i] == ':') break;
  if (i == n) {
    a->is4 = 1;
    return parse4(s.ptr, n, a->b);
  }
  for (i = 0; i < n; i++)
    if (s.ptr[i] == '%') {
      if (i + 1 == n) return 0;
      a->zone = sl_strn(s.ptr + i + 1, n - i - 1);
      n = i;
      break;
    }
  if (!parse6(s.ptr, n, a->b)) return 0;
  if (memcmp(a->b, mapped_prefix, 12) == 0 && a->zone.ptr == NULL) {
    memmove(a->b, a->b + 12, 4);
    memset(a->b + 4, 0, 12);
    a->is4 = 1;
  }
  return 1;
}

/* parse_prefix reads a network (ADDR/BITS) or a bare address, masked. */
static int parse_prefix(sl_str s, prefix *p) {
  uint32_t slash = 0, i;
  int bits = 0, mapped;
  while (slash < s.len && s.ptr[slash] != '/') slash++;
  if (slash == s.len) {
    if (!parse_addr(s, &p->a) || p->a.zone.ptr) return 0;
    p->bits = p->a.is4 ? 32 : 128;
    return 1;
  }
  if (slash + 1 == s.len || (s.ptr[slash + 1] == '0' && slash + 2 < s.len)) return 0;
  for (i = slash + 1; i < s.len; i++) {
    if (s.ptr[i] < '0' || s.ptr[i] > '9' || bits > 128) return 0;
    bits = bits * 10 + (s.ptr[i] - '0');
  }
  mapped = 0;
  if (!parse_addr(sl_strn(s.ptr, slash), &p->a) || p->a.zone.ptr) return 0;
  /* parse_addr unmapped an IPv4-mapped address: its bits count from 96 */
  for (i = 0; i < slash; i++)
    if (s.ptr[i] == ':') mapped = p->a.is4;
  if (bits > (mapped ? 128 : p->a.is4 ? 32 : 128)) return 0;
  if (mapped) bits = bits > 96 ? bits - 96 : 0;
  p->bits = bits;
  for (i = 0; i < 16; i++) { /* mask the host bits */
    int keep = bits - 8 * (int)i;
    if (keep <= 0) p->a.b[i] = 0;
    else if (keep < 8) p->a.b[i] &= (uint8_t)(0xff << (8 - keep));
  }
  return 1;
}

static int contains(const prefix *p, const addr *a) {
  int full = p->bits / 8, rest = p->bits % 8;
  if (p->a.is4 != a->is4 || a->zone.ptr) return 0;
  if (full && memcmp(p->a.b, a->b, (size_t)full) != 0) return 0;
  return rest == 0 || ((p->a.b[full] ^ a->b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* format writes a as Go's netip.Addr.String does (RFC 5952 for IPv6). */
static void format(sl_buf *b, const addr *a) {
  static const char hex[] = "0123456789abcdef";
  if (a->is4) {
    for (int i = 0; i < 4; i++) {
      if (i) sl_buf_add(b, ".");
      sl_buf_int(b, a->b[i]);
    }
    return;
  }
  int zs = -1, ze = -1;
  for (int i = 0; i < 8; i++) { /* the first longest run of two or more zero fields */
    int j = i;
    while (j < 8 && a->b[2 * j] == 0 && a->b[2 * j + 1] == 0) j++;
    if (j - i >= 2 && j - i > ze - zs) zs = i, ze = j;
    if (j > i) i = j;
  }
  for (int i = 0; i < 8; i++) {
    if (i == zs) {
      sl_buf_add(b, "::");
      i = ze - 1;
      continue;
    }
    if (i > 0 && i != ze) sl_buf_add(b, ":");
    uint32_t v = (uint32_t)a->b[2 * i] << 8 | a->b[2 * i + 1];
    char t[4];
    int n = 0;
    for (int shift = 12; shift >= 0; shift -= 4)
      if ((v >> shift) != 0 || shift == 0 || n > 0) t[n++] = hex[(v >> shift) & 15];
    sl_buf_addn(b, t, (uint32_t)n);
  }
  if (a->zone.ptr) sl_buf_add(b, "%"), sl_buf_adds(b, a->zone);
}

/* networks reads v (absent, null or a list of networks) into out, a
 * network_list. */
static int networks(sl_json v, sl_str at, void *into) {
  network_list *out = (network_list *)into;
  sl_json_iter it = sl_json_iterate(v);
  sl_json e;
  sl_buf b = sl_buf_new();
  out->count = 0;
  if (sl_json_type(v) == SL_JSON_NONE || sl_json_type(v) == SL_JSON_NULL) return SL_OK;
  if (sl_json_type(v) != SL_JSON_ARRAY) {
    sl_buf_add(&b, "config: "), sl_buf_adds(&b, at), sl_buf_add(&b, ": want a list of networks");
    return sl_fail(b.ptr);
  }
  out->items = (prefix *)sl_alloc(sl_json_len(v) * (uint32_t)sizeof(prefix));
  while (sl_json_next(&it, NULL, &e)) {
    sl_str s = sl_json_str(e);
    if (!parse_prefix(s, &out->items[out->count])) {
      sl_buf_add(&b, "config: "), sl_buf_adds(&b, at), sl_buf_add(&b, ": ");
      if (s.ptr) sl_buf_json_str(&b, s);
      else sl_buf_addn(&b, e.ptr, e.len);
      sl_buf_add(&b, " is not a CIDR or an address");
      return sl_fail(b.ptr);
    }
    out->count++;
  }
  return SL_OK;
}

static int setup(sl_json config) {
  static const char *const keys[] = {"cidrs", "clients", "allow_unknown", NULL};
  sl_json v;
  if (sl_config_check(config, "give cidrs", keys) != SL_OK) return SL_FAILED;
  v = sl_json_get(config, "allow_unknown");
  if (sl_json_type(v) != SL_JSON_NONE && sl_json_type(v) != SL_JSON_NULL && sl_json_type(v) != SL_JSON_BOOL)
    return sl_fail("config: allow_unknown: want true or false");
  allow_unknown = sl_json_bool(v, 0);
  if (networks(sl_json_get(config, "cidrs"), sl_cstr("cidrs"), &all_clients) != SL_OK ||
      read_clients(sl_json_get(config, "clients"), "networks", networks, sizeof(network_list), &per_client) != SL_OK)
    return SL_FAILED;
  if (all_clients.count == 0 && per_client.count == 0) return sl_fail("config: give cidrs and/or clients");
  return SL_OK;
}

static int check_ip(void) {
  const network_list *allowed = &all_clients;
  sl_str ip = sl_ip();
  addr a;
  if (per_client.count > 0) {
    const network_list *mine = (const network_list *)client_list(&per_client, sl_client_id());
    if (mine != NULL) allowed = mine;
  }
  if (!parse_addr(ip, &a)) {
    if ((!sl_present(ip) || ip.len == 0) && allow_unknown) return SL_OK;
    sl_deny(SL_ACCESS_DENIED, "the request's IP address is unknown");
    return SL_OK;
  }
  for (uint32_t i = 0; i < allowed->count; i++)
    if (contains(&allowed->items[i], &a)) return SL_OK;
  sl_buf b = sl_buf_new();
  sl_buf_add(&b, "requests from "), format(&b, &a), sl_buf_add(&b, " are not allowed for this client");
  sl_deny_buf(SL_ACCESS_DENIED, &b);
  return SL_OK;
}

SL_SETUP(setup)
SL_HOOK(check_ip)
