/* time-window: the time-window plugin, in C with scopeline.h. It denies
 * requests made outside configured days and hours, in UTC or a named time
 * zone. The time is the request's arrival time.
 *
 * Config (docs/hooks.md):
 *
 *   zone: Europe/Paris              # an IANA zone; default UTC
 *   windows:                        # allowed when inside any window
 *     - days: [mon, tue, wed, thu, fri]
 *       from: "08:00"
 *       to: "18:30"                 # to < from spans midnight
 *   reason: outside business hours  # error_description (optional)
 *
 * The zone database (tzdata.h, made by tzgen from Go's copy of the IANA
 * database) holds every zone's offsets from 2000 on: a request time
 * before 2000 is judged with the zone's offset on 2000-01-01.
 * Build: plugins/build.sh.
 */
#include "scopeline.h"

typedef struct tz_date {
  uint8_t month, week, weekday;
  int32_t secs; /* local time of day, may be negative or past 24:00 */
} tz_date;

typedef struct tz_zone {
  int32_t initial;    /* the UTC offset at TZ_EPOCH, seconds east */
  uint16_t first, count; /* its transitions in tz_trans_* */
  uint32_t rule_from; /* seconds since TZ_EPOCH from which the rule applies */
  int32_t std, dst;
  uint8_t has_dst;
  tz_date start, end;
} tz_zone;

#include "tzdata.h"

typedef struct window {
  uint8_t days[7]; /* Sunday first */
  int from, to;    /* minutes since midnight; to < from spans midnight */
} window;

/* The parsed config: kept from setup for the instance's life. */
static const tz_zone *zone; /* NULL: UTC */
static window *windows;
static uint32_t window_count;
static sl_str reason;

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* days_from_civil counts days since 1970-01-01 (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int64_t year_of(int64_t t) {
  int64_t z = floor_div(t, 86400) + 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  return yoe + era * 400 + (mp >= 10);
}

static int weekday_of_days(int64_t days) { return (int)(((days + 4) % 7 + 7) % 7); }

/* instant is when date d of year y happens, d's time being local at off. */
static int64_t instant(int64_t y, const tz_date *d, int32_t off) {
  static const uint8_t month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t first = days_from_civil(y, d->month, 1);
  int last = month_days[d->month - 1] + (d->month == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
  int day = 1 + (d->weekday - weekday_of_days(first) + 7) % 7 + 7 * (d->week - 1);
  while (day > last) day -= 7;
  return (first + day - 1) * 86400 + d->secs - off;
}

/* utc_offset is the zone's offset at t (as tzgen's zone.offset). */
static int32_t utc_offset(const tz_zone *z, int64_t t) {
  if (z == NULL) return 0;
  if (t >= TZ_EPOCH + (int64_t)z->rule_from && z->rule_from != 0xffffffffu) {
    int64_t y, start, end;
    if (!z->has_dst) return z->std;
    y = year_of(t);
    start = instant(y, &z->start, z->std);
    end = instant(y, &z->end, z->dst);
    if (start < end) return t >= start && t < end ? z->dst : z->std;
    return t >= end && t < start ? z->std : z->dst;
  }
  int32_t off = z->initial;
  for (uint32_t i = z->first; i < (uint32_t)z->first + z->count; i++) {
    if (TZ_EPOCH + (int64_t)tz_trans_at[i] > t) break;
    off = tz_trans_off[i];
  }
  return off;
}

/* find_zone looks a zone up by name (NULL name or UTC: found, as NULL). */
static int find_zone(sl_str name, const tz_zone **out) {
  const char *p = tz_names;
  *out = NULL;
  if (name.len == 0 || sl_is(name, "UTC") || sl_is(name, "Local")) return 1;
  for (uint32_t i = 0; i < TZ_NAMES; i++) {
    size_t n = strlen(p);
    if (n == name.len && memcmp(p, name.ptr, n) == 0) {
      *out = &tz_zones[tz_name_zone[i]];
      return 1;
    }
    p += n + 1;
  }
  return 0;
}

/* clock reads "H:MM" or "HH:MM" as minutes since midnight ("24:00" is the
 * end of the day); absent means def; -1: not a time. */
static int clock(sl_str s, int def) {
  uint32_t i = 0;
  int h = 0, m;
  if (!sl_present(s) || s.len == 0) return def;
  if (sl_is(s, "24:00")) return 24 * 60;
  while (i < s.len && i < 2 && s.ptr[i] >= '0' && s.ptr[i] <= '9') h = h * 10 + (s.ptr[i++] - '0');
  if (i == 0 || h > 23 || i + 3 != s.len || s.ptr[i] != ':') return -1;
  if (s.ptr[i + 1] < '0' || s.ptr[i + 1] > '5' || s.ptr[i + 2] < '0' || s.ptr[i + 2] > '9') return -1;
  m = (s.ptr[i + 1] - '0') * 10 + (s.ptr[i + 2] - '0');
  return h * 60 + m;
}

static int fail_at(uint32_t i, const char *field, const char *msg1, sl_str quoted, const char *msg2) {
  sl_buf b = sl_buf_new();
  sl_buf_add(&b, "config: windows["), sl_buf_int(&b, i), sl_buf_add(&b, "]"), sl_buf_add(&b, field);
  sl_buf_add(&b, ": "), sl_buf_add(&b, msg1);
  if (quoted.ptr) sl_buf_json_str(&b, quoted);
  sl_buf_add(&b, msg2);
  return sl_fail(b.ptr);
}

static int setup(sl_json config) {
  static const char *const keys[] = {"zone", "windows", "reason", NULL};
  static const char *const window_keys[] = {"days", "from", "to", NULL};
  static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  sl_json list, w, d;
  sl_str unknown, name;
  sl_buf b = sl_buf_new();
  if (sl_config_check(config, "give windows", keys) != SL_OK) return SL_FAILED;
  name = sl_json_str(sl_json_get(config, "zone"));
  if (name.ptr && !find_zone(name, &zone)) {
    sl_buf_add(&b, "config: zone "), sl_buf_json_str(&b, name), sl_buf_add(&b, ": unknown time zone "), sl_buf_adds(&b, name);
    return sl_fail(b.ptr);
  }
  reason = sl_json_str(sl_json_get(config, "reason"));
  if (!reason.ptr || reason.len == 0) reason = sl_cstr("requests are not allowed at this time");
  list = sl_json_get(config, "windows");
  sl_json_iter it = sl_json_iterate(list);
  if (sl_json_len(list) == 0) return sl_fail("config: windows is empty");
  windows = (window *)sl_alloc(sl_json_len(list) * (uint32_t)sizeof(window));
  for (uint32_t i = 0; sl_json_next(&it, NULL, &w); i++) {
    window *win = &windows[window_count++];
    sl_json_iter di;
    memset(win, 0, sizeof *win);
    if (sl_json_type(w) != SL_JSON_OBJECT) return fail_at(i, "", "want days, from and to", sl_strn(NULL, 0), "");
    if ((unknown = sl_json_unknown_key(w, window_keys)).ptr) return fail_at(i, "", "unknown field ", unknown, "");
    di = sl_json_iterate(sl_json_get(w, "days"));
    if (!sl_json_next(&di, NULL, NULL)) memset(win->days, 1, sizeof win->days);
    di = sl_json_iterate(sl_json_get(w, "days"));
    while (sl_json_next(&di, NULL, &d)) {
      sl_str day = sl_json_str(d);
      int found = 0;
      for (int k = 0; day.ptr && day.len == 3 && k < 7; k++) {
        int same = 1;
        for (int c = 0; c < 3; c++) {
          char ch = day.ptr[c];
          if (ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
          same &= ch == day_names[k][c];
        }
        if (same) win->days[k] = 1, found = 1;
      }
      if (!found) return fail_at(i, "", "day ", day.ptr ? day : sl_strn(d.ptr, d.len), ": want mon, tue, wed, thu, fri, sat or sun");
    }
    sl_str from = sl_json_str(sl_json_get(w, "from")), to = sl_json_str(sl_json_get(w, "to"));
    if ((win->from = clock(from, 0)) < 0) return fail_at(i, ".from", "", from, " is not HH:MM");
    if ((win->to = clock(to, 24 * 60)) < 0) return fail_at(i, ".to", "", to, " is not HH:MM");
    if (win->from == win->to) return fail_at(i, "", "from and to are equal", sl_strn(NULL, 0), "");
  }
  return SL_OK;
}

/* inside tells whether a local time (weekday, minute of the day) falls in
 * w. A window whose end is before its start spans midnight: it starts on
 * its listed days and ends on the next day. */
static int inside(const window *w, int day, int minute) {
  if (w->from < w->to) return w->days[day] && minute >= w->from && minute < w->to;
  return (w->days[day] && minute >= w->from) || (w->days[(day + 6) % 7] && minute < w->to);
}

static int check_window(void) {
  sl_str unix = sl_field(SL_FIELD_TIME_UNIX);
  int64_t t, local, days;
  if (!sl_present(unix) || unix.len == 0) {
    sl_deny(SL_ACCESS_DENIED, "the request time is unknown");
    return SL_OK;
  }
  t = sl_time();
  local = t + utc_offset(zone, t);
  days = floor_div(local, 86400);
  for (uint32_t i = 0; i < window_count; i++)
    if (inside(&windows[i], weekday_of_days(days), (int)((local - days * 86400) / 60))) return SL_OK;
  sl_deny(SL_ACCESS_DENIED, reason.ptr);
  return SL_OK;
}

SL_SETUP(setup)
SL_HOOK(check_window)
