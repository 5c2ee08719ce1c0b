// JSON values (RFC 8259): parsing configs and the input document, and
// writing claims.

export enum JSONKind { NULL, BOOL, INT, FLOAT, STRING, ARRAY, OBJECT, ERROR }

/** A JSON value. Objects keep their members in order. get() of an absent
 * member returns a NULL value, so lookups chain: doc.get("user").get("email"). */
export class JSONValue {
  kind: JSONKind = JSONKind.NULL;
  bool: bool = false;
  int: i64 = 0;
  float: f64 = 0;
  /** The string (STRING), or why the text is not JSON (ERROR). */
  str: string = "";
  items: JSONValue[] = [];
  keys: string[] = [];

  get isNull(): bool { return this.kind == JSONKind.NULL; }
  get isError(): bool { return this.kind == JSONKind.ERROR; }

  /** The member key of an object (a NULL value when absent). */
  get(key: string): JSONValue {
    if (this.kind == JSONKind.OBJECT) {
      for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    }
    return new JSONValue();
  }
  /** Whether an object has the member key. */
  has(key: string): bool {
    return this.kind == JSONKind.OBJECT && this.keys.includes(key);
  }
  /** The element i of an array (a NULL value when absent). */
  at(i: i32): JSONValue {
    if (this.kind == JSONKind.ARRAY && i >= 0 && i < this.items.length) return this.items[i];
    return new JSONValue();
  }
  asString(def: string | null = null): string | null { return this.kind == JSONKind.STRING ? this.str : def; }
  asInt(def: i64 = 0): i64 { return this.kind == JSONKind.INT ? this.int : def; }
  asFloat(def: f64 = 0): f64 {
    if (this.kind == JSONKind.INT) return <f64>this.int;
    return this.kind == JSONKind.FLOAT ? this.float : def;
  }
  asBool(def: bool = false): bool { return this.kind == JSONKind.BOOL ? this.bool : def; }
  /** The first member of an object whose key is not among allowed, or
   * null: for refusing a config with a mistyped key. */
  unknownKey(allowed: string[]): string | null {
    for (let i = 0; i < this.keys.length; i++) if (!allowed.includes(this.keys[i])) return this.keys[i];
    return null;
  }

  static fromString(s: string): JSONValue { const v = new JSONValue(); v.kind = JSONKind.STRING; v.str = s; return v; }
  static fromInt(i: i64): JSONValue { const v = new JSONValue(); v.kind = JSONKind.INT; v.int = i; return v; }
  static fromBool(b: bool): JSONValue { const v = new JSONValue(); v.kind = JSONKind.BOOL; v.bool = b; return v; }
  static array(items: JSONValue[]): JSONValue { const v = new JSONValue(); v.kind = JSONKind.ARRAY; v.items = items; return v; }
  static object(): JSONValue { const v = new JSONValue(); v.kind = JSONKind.OBJECT; return v; }
  /** Adds a member to an object (in order); returns the object. */
  set(key: string, value: JSONValue): JSONValue {
    this.keys.push(key);
    this.items.push(value);
    return this;
  }

  /** The value as compact JSON text. */
  toJSON(): string {
    switch (this.kind) {
      case JSONKind.BOOL: return this.bool ? "true" : "false";
      case JSONKind.INT: return this.int.toString();
      case JSONKind.FLOAT: return isFinite(this.float) ? this.float.toString() : "null";
      case JSONKind.STRING: return writeJSONString(this.str);
      case JSONKind.ARRAY: {
        const parts = new Array<string>();
        for (let i = 0; i < this.items.length; i++) parts.push(this.items[i].toJSON());
        return "[" + parts.join(",") + "]";
      }
      case JSONKind.OBJECT: {
        const parts = new Array<string>();
        for (let i = 0; i < this.items.length; i++) parts.push(writeJSONString(this.keys[i]) + ":" + this.items[i].toJSON());
        return "{" + parts.join(",") + "}";
      }
    }
    return "null";
  }
}

const HEX = "0123456789abcdef";

/** s as a JSON string: " and \ escaped, characters below 0x20 as \u00XX,
 * the rest as it is. */
export function writeJSONString(s: string): string {
  let out = "\"";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out += s.substring(from, i);
    from = i + 1;
    if (c == 0x22 || c == 0x5c) out += "\\" + String.fromCharCode(c);
    else out += "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
  }
  return out + s.substring(from) + "\"";
}

/** Parses one JSON value; on bad text it returns a value of kind ERROR
 * whose str says why. */
export function parseJSON(text: string): JSONValue {
  const p = new Parser(text);
  const v = p.value(0);
  if (p.failed) return p.error();
  p.ws();
  if (p.i != text.length) { p.fail("text after the value"); return p.error(); }
  return v;
}

function isDigit(c: i32): bool { return c >= 0x30 && c <= 0x39; }

class Parser {
  i: i32 = 0;
  failed: bool = false;
  why: string = "";
  constructor(public s: string) {}

  fail(why: string): JSONValue {
    if (!this.failed) { this.failed = true; this.why = why + " at " + this.i.toString(); }
    return new JSONValue();
  }
  error(): JSONValue { const v = new JSONValue(); v.kind = JSONKind.ERROR; v.str = "invalid JSON: " + this.why; return v; }
  peek(): i32 { return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1; }
  ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.i++;
    }
  }
  word(w: string, v: JSONValue): JSONValue {
    if (this.s.substr(this.i, w.length) != w) return this.fail("unknown word");
    this.i += w.length;
    return v;
  }
  value(depth: i32): JSONValue {
    if (depth > 64) return this.fail("nested too deep");
    this.ws();
    const c = this.peek();
    if (c == 0x6e) return this.word("null", new JSONValue());
    if (c == 0x74) return this.word("true", JSONValue.fromBool(true));
    if (c == 0x66) return this.word("false", JSONValue.fromBool(false));
    if (c == 0x22) {
      const s = this.string();
      return this.failed ? new JSONValue() : JSONValue.fromString(s);
    }
    if (c == 0x5b) {
      this.i++;
      const a = JSONValue.array([]);
      this.ws();
      if (this.peek() == 0x5d) { this.i++; return a; }
      while (true) {
        a.items.push(this.value(depth + 1));
        if (this.failed) return a;
        this.ws();
        const d = this.peek();
        this.i++;
        if (d == 0x5d) return a;
        if (d != 0x2c) return this.fail("want , or ]");
      }
    }
    if (c == 0x7b) {
      this.i++;
      const o = JSONValue.object();
      this.ws();
      if (this.peek() == 0x7d) { this.i++; return o; }
      while (true) {
        this.ws();
        if (this.peek() != 0x22) return this.fail("want a member name");
        const k = this.string();
        if (this.failed) return o;
        this.ws();
        if (this.peek() != 0x3a) return this.fail("want :");
        this.i++;
        o.set(k, this.value(depth + 1));
        if (this.failed) return o;
        this.ws();
        const d = this.peek();
        this.i++;
        if (d == 0x7d) return o;
        if (d != 0x2c) return this.fail("want , or }");
      }
    }
    return this.number();
  }
  digits(): i32 {
    const start = this.i;
    while (isDigit(this.peek())) this.i++;
    return this.i - start;
  }
  number(): JSONValue {
    const start = this.i;
    if (this.peek() == 0x2d) this.i++;
    if (this.peek() == 0x30) this.i++;
    else if (this.digits() == 0) return this.fail("not a value");
    let int = true;
    if (this.peek() == 0x2e) {
      this.i++;
      int = false;
      if (this.digits() == 0) return this.fail("want digits after .");
    }
    if (this.peek() == 0x65 || this.peek() == 0x45) {
      this.i++;
      int = false;
      if (this.peek() == 0x2b || this.peek() == 0x2d) this.i++;
      if (this.digits() == 0) return this.fail("want digits in the exponent");
    }
    const t = this.s.substring(start, this.i);
    if (int) {
      // exact when it fits an i64 (at most 18 digits always does)
      const neg = t.charCodeAt(0) == 0x2d;
      const n = t.length - (neg ? 1 : 0);
      if (n <= 18) {
        let m: i64 = 0;
        for (let i = neg ? 1 : 0; i < t.length; i++) m = m * 10 + <i64>(t.charCodeAt(i) - 0x30);
        return JSONValue.fromInt(neg ? -m : m);
      }
    }
    const v = new JSONValue();
    v.kind = JSONKind.FLOAT;
    v.float = parseFloat(t);
    return v;
  }
  hex4(): i32 {
    if (this.i + 4 > this.s.length) { this.fail("short \\u escape"); return 0; }
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.s.charCodeAt(this.i++);
      let d = -1;
      if (isDigit(c)) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) { this.fail("bad \\u escape"); return 0; }
      v = v * 16 + d;
    }
    return v;
  }
  string(): string {
    this.i++; // the opening quote
    let out = "";
    let from = this.i;
    while (true) {
      if (this.i >= this.s.length) { this.fail("unterminated string"); return ""; }
      const c = this.s.charCodeAt(this.i);
      if (c == 0x22) { out += this.s.substring(from, this.i); this.i++; return out; }
      if (c < 0x20) { this.fail("control character in a string"); return ""; }
      if (c != 0x5c) { this.i++; continue; }
      out += this.s.substring(from, this.i);
      this.i++;
      const e = this.peek();
      this.i++;
      if (e == 0x22 || e == 0x5c || e == 0x2f) out += String.fromCharCode(e);
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x6e) out += "\n";
      else if (e == 0x72) out += "\r";
      else if (e == 0x74) out += "\t";
      else if (e == 0x75) { const u = this.hex4(); if (this.failed) return ""; out += String.fromCharCode(u); }
      else { this.fail("bad escape"); return ""; }
      from = this.i;
    }
  }
}
