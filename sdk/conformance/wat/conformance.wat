;; The conformance hook in WebAssembly text, on the raw ABI with no SDK
;; (what it does: sdk/conformance/README.md). Build: wat2wasm conformance.wat
;;
;; It reads JSON only as far as the table needs: member lookup in an
;; object, and string values used as they are written (no unescaping: the
;; table's config strings have no escapes). Values read from the host are
;; asked for with a 64-byte buffer first, then again with one of their
;; size, as an SDK does.
(module
  (import "scopeline" "input" (func $input (param i32 i32) (result i32)))
  (import "scopeline" "field" (func $field_raw (param i32 i32 i32) (result i32)))
  (import "scopeline" "client_metadata" (func $meta_raw (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "secret" (func $secret_raw (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "has_scope" (func $has_scope (param i32 i32) (result i32)))
  (import "scopeline" "add_scope" (func $add_scope (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "remove_scope" (func $remove_scope (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "set_claim" (func $set_claim (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "scopeline" "remove_claim" (func $remove_claim (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "deny" (func $deny (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "log" (func $log (param i32 i32 i32) (result i32)))

  ;; 0x0400 strings; 0x1000 the config (kept from init); 0x6000 the line
  ;; being built; 0x10000 the run's heap, emptied at each run.
  (memory (export "memory") 5)
  (global $hp (mut i32) (i32.const 0x10000))
  (global $olen (mut i32) (i32.const 0))
  ;; the config, as spans into its copy at 0x1000 (length -1: absent)
  (global $conf_len (mut i32) (i32.const -1))
  (global $label_p (mut i32) (i32.const 0)) (global $label_l (mut i32) (i32.const 0))
  (global $limit_p (mut i32) (i32.const 0)) (global $limit_l (mut i32) (i32.const 0))
  (global $strict_p (mut i32) (i32.const 0)) (global $strict_l (mut i32) (i32.const 0))
  (global $extra_p (mut i32) (i32.const 0)) (global $extra_l (mut i32) (i32.const 0))

  (data (i32.const 0x400) "none")                 ;; 0x400 4
  (data (i32.const 0x408) "(none)")               ;; 0x408 6
  (data (i32.const 0x410) "tier")                 ;; 0x410 4
  (data (i32.const 0x418) "free")                 ;; 0x418 4
  (data (i32.const 0x420) "fail")                 ;; 0x420 4
  (data (i32.const 0x428) "true")                 ;; 0x428 4
  (data (i32.const 0x430) "false")                ;; 0x430 5
  (data (i32.const 0x438) "suspended")            ;; 0x438 9
  (data (i32.const 0x448) "deny_code")            ;; 0x448 9
  (data (i32.const 0x458) "access_denied")        ;; 0x458 13
  (data (i32.const 0x468) "invalid_scope")        ;; 0x468 13
  (data (i32.const 0x478) "ignored")              ;; 0x478 7
  (data (i32.const 0x480) "suspended (label=")    ;; 0x480 17
  (data (i32.const 0x498) "denied with ")         ;; 0x498 12
  (data (i32.const 0x4a8) "config=")              ;; 0x4a8 7
  (data (i32.const 0x4b0) "trigger=")             ;; 0x4b0 8
  (data (i32.const 0x4b8) " grant=")              ;; 0x4b8 7
  (data (i32.const 0x4c0) " client=")             ;; 0x4c0 8
  (data (i32.const 0x4c8) " name=")               ;; 0x4c8 6
  (data (i32.const 0x4d0) " type=")               ;; 0x4d0 6
  (data (i32.const 0x4d8) " aud=")                ;; 0x4d8 5
  (data (i32.const 0x4e0) " sub=")                ;; 0x4e0 5
  (data (i32.const 0x4e8) " hook=")               ;; 0x4e8 6
  (data (i32.const 0x4f0) "requested=")           ;; 0x4f0 10
  (data (i32.const 0x500) " scopes=")             ;; 0x500 8
  (data (i32.const 0x508) " ceiling=")            ;; 0x508 9
  (data (i32.const 0x518) "user=")                ;; 0x518 5
  (data (i32.const 0x520) " ip=")                 ;; 0x520 4
  (data (i32.const 0x528) " ua=")                 ;; 0x528 4
  (data (i32.const 0x530) " rid=")                ;; 0x530 5
  (data (i32.const 0x538) " time=")               ;; 0x538 6
  (data (i32.const 0x540) "secret=")              ;; 0x540 7
  (data (i32.const 0x548) " note=")               ;; 0x548 6
  (data (i32.const 0x550) "token")                ;; 0x550 5
  (data (i32.const 0x558) "note")                 ;; 0x558 4
  (data (i32.const 0x560) "gold")                 ;; 0x560 4
  (data (i32.const 0x568) "read:users")           ;; 0x568 10
  (data (i32.const 0x578) "gold reads")           ;; 0x578 10
  (data (i32.const 0x588) "extra from config")    ;; 0x588 17
  (data (i32.const 0x5a0) "delete:users")         ;; 0x5a0 12
  (data (i32.const 0x5b0) "only gold deletes")    ;; 0x5b0 17
  (data (i32.const 0x5c8) "client tier")          ;; 0x5c8 11
  (data (i32.const 0x5d8) "{\"extra\":")          ;; 0x5d8 9
  (data (i32.const 0x5e8) ",\"label\":")          ;; 0x5e8 9
  (data (i32.const 0x5f8) ",\"limit\":")          ;; 0x5f8 9
  (data (i32.const 0x608) ",\"strict\":")         ;; 0x608 10
  (data (i32.const 0x618) "conf")                 ;; 0x618 4
  (data (i32.const 0x620) "typed config")         ;; 0x620 12
  (data (i32.const 0x630) "user")                 ;; 0x630 4
  (data (i32.const 0x638) "email")                ;; 0x638 5
  (data (i32.const 0x640) "from the input document") ;; 0x640 23
  (data (i32.const 0x658) "legacy")               ;; 0x658 6
  (data (i32.const 0x660) "legacy dropped")       ;; 0x660 14
  (data (i32.const 0x670) "tier=")                ;; 0x670 5
  (data (i32.const 0x678) "asked to fail")        ;; 0x678 13
  (data (i32.const 0x688) "label")                ;; 0x688 5
  (data (i32.const 0x690) "limit")                ;; 0x690 5
  (data (i32.const 0x698) "strict")               ;; 0x698 6
  (data (i32.const 0x6a0) "extra")                ;; 0x6a0 5
  (data (i32.const 0x6a8) "refuse")               ;; 0x6a8 6
  (data (i32.const 0x6b0) "require_secret")       ;; 0x6b0 14
  (data (i32.const 0x6c0) "setup: secret ")       ;; 0x6c0 14
  (data (i32.const 0x6d0) " is missing")          ;; 0x6d0 11
  (data (i32.const 0x6e0) "setup: refused: label=") ;; 0x6e0 22
  (data (i32.const 0x6f8) "[]")                   ;; 0x6f8 2
  (data (i32.const 0x700) "0")                    ;; 0x700 1
  (data (i32.const 0x708) "setup: config is larger than 20 KiB") ;; 0x708 35
  (data (i32.const 0x730) "0123456789abcdef")     ;; 0x730 16
  (data (i32.const 0x748) " at=")                 ;; 0x748 4

  ;; alloc returns n bytes of the run's heap, growing memory if need be.
  (func $alloc (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $hp))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 0xffff)) (i32.const 16)) (memory.size)))
              (i32.const 0))
          (then unreachable))))
    (global.set $hp (local.get $end))
    (local.get $p))

  ;; The getters return (pointer, length); length -1 when absent. The
  ;; first call offers 64 bytes; a longer value is asked for again.
  (func $field (param $id i32) (result i32 i32)
    (local $p i32) (local $n i32)
    (local.set $p (call $alloc (i32.const 64)))
    (local.set $n (call $field_raw (local.get $id) (local.get $p) (i32.const 64)))
    (if (i32.gt_s (local.get $n) (i32.const 64))
      (then
        (local.set $p (call $alloc (local.get $n)))
        (local.set $n (call $field_raw (local.get $id) (local.get $p) (local.get $n)))))
    (local.get $p) (local.get $n))

  (func $meta (param $k i32) (param $kl i32) (result i32 i32)
    (local $p i32) (local $n i32)
    (local.set $p (call $alloc (i32.const 64)))
    (local.set $n (call $meta_raw (local.get $k) (local.get $kl) (local.get $p) (i32.const 64)))
    (if (i32.gt_s (local.get $n) (i32.const 64))
      (then
        (local.set $p (call $alloc (local.get $n)))
        (local.set $n (call $meta_raw (local.get $k) (local.get $kl) (local.get $p) (local.get $n)))))
    (local.get $p) (local.get $n))

  (func $secret (param $k i32) (param $kl i32) (result i32 i32)
    (local $p i32) (local $n i32)
    (local.set $p (call $alloc (i32.const 64)))
    (local.set $n (call $secret_raw (local.get $k) (local.get $kl) (local.get $p) (i32.const 64)))
    (if (i32.gt_s (local.get $n) (i32.const 64))
      (then
        (local.set $p (call $alloc (local.get $n)))
        (local.set $n (call $secret_raw (local.get $k) (local.get $kl) (local.get $p) (local.get $n)))))
    (local.get $p) (local.get $n))

  (func $document (result i32 i32)
    (local $p i32) (local $n i32)
    (local.set $p (call $alloc (i32.const 64)))
    (local.set $n (call $input (local.get $p) (i32.const 64)))
    (if (i32.gt_s (local.get $n) (i32.const 64))
      (then
        (local.set $p (call $alloc (local.get $n)))
        (local.set $n (call $input (local.get $p) (local.get $n)))))
    (local.get $p) (local.get $n))

  ;; eq tells whether two byte strings are equal.
  (func $eq (param $a i32) (param $al i32) (param $b i32) (param $bl i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $al) (local.get $bl)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $al)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; The line being built, at 0x6000.
  (func $out_reset (global.set $olen (i32.const 0)))
  (func $out (param $p i32) (param $n i32)
    (memory.copy (i32.add (i32.const 0x6000) (global.get $olen)) (local.get $p) (local.get $n))
    (global.set $olen (i32.add (global.get $olen) (local.get $n))))
  (func $out_byte (param $c i32)
    (i32.store8 (i32.add (i32.const 0x6000) (global.get $olen)) (local.get $c))
    (global.set $olen (i32.add (global.get $olen) (i32.const 1))))
  ;; out_or_none writes a value, or "(none)" when absent or empty.
  (func $out_or_none (param $p i32) (param $n i32)
    (if (i32.le_s (local.get $n) (i32.const 0))
      (then (call $out (i32.const 0x408) (i32.const 6)))
      (else (call $out (local.get $p) (local.get $n)))))
  ;; out_list writes a space-separated list with commas.
  (func $out_list (param $p i32) (param $n i32)
    (local $i i32) (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
        (if (i32.eq (local.get $c) (i32.const 0x20)) (then (local.set $c (i32.const 0x2c))))
        (call $out_byte (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
  ;; out_uint writes a non-negative integer in decimal.
  (func $out_uint (param $v i32)
    (if (i32.ge_u (local.get $v) (i32.const 10))
      (then (call $out_uint (i32.div_u (local.get $v) (i32.const 10)))))
    (call $out_byte (i32.add (i32.const 0x30) (i32.rem_u (local.get $v) (i32.const 10)))))
  ;; out_json_str writes bytes as a JSON string.
  (func $out_json_str (param $p i32) (param $n i32)
    (local $i i32) (local $c i32)
    (call $out_byte (i32.const 0x22))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
        (if (i32.or (i32.eq (local.get $c) (i32.const 0x22)) (i32.eq (local.get $c) (i32.const 0x5c)))
          (then (call $out_byte (i32.const 0x5c)) (call $out_byte (local.get $c)))
          (else
            (if (i32.lt_u (local.get $c) (i32.const 0x20))
              (then
                (call $out_byte (i32.const 0x5c)) (call $out_byte (i32.const 0x75))
                (call $out_byte (i32.const 0x30)) (call $out_byte (i32.const 0x30))
                (call $out_byte (i32.load8_u (i32.add (i32.const 0x730) (i32.shr_u (local.get $c) (i32.const 4)))))
                (call $out_byte (i32.load8_u (i32.add (i32.const 0x730) (i32.and (local.get $c) (i32.const 15))))))
              (else (call $out_byte (local.get $c))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $out_byte (i32.const 0x22)))
  (func $out_log (param $level i32)
    (drop (call $log (local.get $level) (i32.const 0x6000) (global.get $olen))))

  ;; ---- JSON, as far as needed ----
  (func $ws (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done (i32.and (i32.and (i32.ne (local.get $c) (i32.const 0x20)) (i32.ne (local.get $c) (i32.const 0x0a)))
                              (i32.and (i32.ne (local.get $c) (i32.const 0x09)) (i32.ne (local.get $c) (i32.const 0x0d)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))

  ;; skip returns the end of the value at p (valid JSON: the host checked it).
  (func $skip (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $depth i32) (local $instr i32)
    (local.set $c (i32.load8_u (local.get $p)))
    ;; a scalar other than a string: up to a delimiter
    (if (i32.and (i32.ne (local.get $c) (i32.const 0x22))
                 (i32.and (i32.ne (local.get $c) (i32.const 0x7b)) (i32.ne (local.get $c) (i32.const 0x5b))))
      (then
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $c (i32.load8_u (local.get $p)))
            (br_if $done (i32.or (i32.or (i32.eq (local.get $c) (i32.const 0x2c)) (i32.eq (local.get $c) (i32.const 0x7d)))
                                 (i32.or (i32.eq (local.get $c) (i32.const 0x5d)) (i32.le_u (local.get $c) (i32.const 0x20)))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $next)))
        (return (local.get $p))))
    ;; a string or a container: count brackets outside strings
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (local.get $instr)
          (then
            (if (i32.eq (local.get $c) (i32.const 0x5c))
              (then (local.set $p (i32.add (local.get $p) (i32.const 1))))
              (else
                (if (i32.eq (local.get $c) (i32.const 0x22))
                  (then
                    (local.set $instr (i32.const 0))
                    (br_if $done (i32.eqz (local.get $depth))))))))
          (else
            (if (i32.eq (local.get $c) (i32.const 0x22)) (then (local.set $instr (i32.const 1))))
            (if (i32.or (i32.eq (local.get $c) (i32.const 0x7b)) (i32.eq (local.get $c) (i32.const 0x5b)))
              (then (local.set $depth (i32.add (local.get $depth) (i32.const 1)))))
            (if (i32.or (i32.eq (local.get $c) (i32.const 0x7d)) (i32.eq (local.get $c) (i32.const 0x5d)))
              (then
                (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
                (br_if $done (i32.eqz (local.get $depth)))))))
        (br $next)))
    (local.get $p))

  ;; get returns the value of member key in the object at [p, p+n), as
  ;; (pointer, length), length -1 when absent or not an object.
  (func $get (param $p i32) (param $n i32) (param $k i32) (param $kl i32) (result i32 i32)
    (local $end i32) (local $ks i32) (local $ke i32) (local $vs i32) (local $ve i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (i32.const 0) (i32.const -1))))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $p (call $ws (local.get $p) (local.get $end)))
    (if (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x7b)) (then (return (i32.const 0) (i32.const -1))))
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (block $done
      (loop $next
        (local.set $p (call $ws (local.get $p) (local.get $end)))
        (br_if $done (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x22)))
        (local.set $ks (local.get $p))
        (local.set $ke (call $skip (local.get $p) (local.get $end)))
        (local.set $p (call $ws (local.get $ke) (local.get $end)))   ;; at ':'
        (local.set $vs (call $ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
        (local.set $ve (call $skip (local.get $vs) (local.get $end)))
        (if (call $eq (i32.add (local.get $ks) (i32.const 1)) (i32.sub (i32.sub (local.get $ke) (local.get $ks)) (i32.const 2))
                      (local.get $k) (local.get $kl))
          (then (return (local.get $vs) (i32.sub (local.get $ve) (local.get $vs)))))
        (local.set $p (call $ws (local.get $ve) (local.get $end)))
        (br_if $done (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x2c)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (i32.const 0) (i32.const -1))

  (func $config (param $k i32) (param $kl i32) (result i32 i32)
    (call $get (i32.const 0x1000) (global.get $conf_len) (local.get $k) (local.get $kl)))

  (func (export "scopeline_abi_v1"))

  (func (export "scopeline_init") (result i32)
    (local $p i32) (local $n i32) (local $sp i32) (local $sl i32)
    (global.set $hp (i32.const 0x10000))
    (local.set $n (call $field_raw (i32.const 13) (i32.const 0x1000) (i32.const 0x5000)))
    (if (i32.gt_s (local.get $n) (i32.const 0x5000))
      (then
        (drop (call $log (i32.const 3) (i32.const 0x708) (i32.const 35)))
        (return (i32.const 1))))
    (global.set $conf_len (local.get $n))
    ;; label, as it is written (the default: none)
    (global.set $label_p (i32.const 0x400)) (global.set $label_l (i32.const 4))
    (call $config (i32.const 0x688) (i32.const 5)) (local.set $n) (local.set $p)
    (if (i32.ge_s (local.get $n) (i32.const 2))
      (then (global.set $label_p (i32.add (local.get $p) (i32.const 1)))
            (global.set $label_l (i32.sub (local.get $n) (i32.const 2)))))
    (global.set $limit_p (i32.const 0x700)) (global.set $limit_l (i32.const 1))
    (call $config (i32.const 0x690) (i32.const 5)) (local.set $n) (local.set $p)
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (global.set $limit_p (local.get $p)) (global.set $limit_l (local.get $n))))
    (global.set $strict_p (i32.const 0x430)) (global.set $strict_l (i32.const 5))
    (call $config (i32.const 0x698) (i32.const 6)) (local.set $n) (local.set $p)
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (global.set $strict_p (local.get $p)) (global.set $strict_l (local.get $n))))
    (global.set $extra_p (i32.const 0x6f8)) (global.set $extra_l (i32.const 2))
    (call $config (i32.const 0x6a0) (i32.const 5)) (local.set $n) (local.set $p)
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (global.set $extra_p (local.get $p)) (global.set $extra_l (local.get $n))))
    ;; require_secret
    (call $config (i32.const 0x6b0) (i32.const 14)) (local.set $n) (local.set $p)
    (if (i32.gt_s (local.get $n) (i32.const 2))
      (then
        (call $secret (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $n) (i32.const 2)))
        (local.set $sl) (local.set $sp)
        (if (i32.lt_s (local.get $sl) (i32.const 0))
          (then
            (call $out_reset)
            (call $out (i32.const 0x6c0) (i32.const 14))
            (call $out (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $n) (i32.const 2)))
            (call $out (i32.const 0x6d0) (i32.const 11))
            (call $out_log (i32.const 3))
            (return (i32.const 1))))))
    ;; refuse
    (call $config (i32.const 0x6a8) (i32.const 6)) (local.set $n) (local.set $p)
    (if (call $eq (local.get $p) (local.get $n) (i32.const 0x428) (i32.const 4))
      (then
        (call $out_reset)
        (call $out (i32.const 0x6e0) (i32.const 22))
        (call $out (global.get $label_p) (global.get $label_l))
        (call $out_log (i32.const 3))
        (return (i32.const 1))))
    (i32.const 0))

  (func (export "scopeline_run") (result i32)
    (local $tp i32) (local $tl i32) (local $p i32) (local $n i32) (local $q i32) (local $m i32) (local $end i32)
    (global.set $hp (i32.const 0x10000))
    (call $meta (i32.const 0x410) (i32.const 4)) (local.set $tl) (local.set $tp)
    (if (i32.lt_s (local.get $tl) (i32.const 0))
      (then (local.set $tp (i32.const 0x418)) (local.set $tl (i32.const 4))))
    ;; 1. fail
    (call $meta (i32.const 0x420) (i32.const 4)) (local.set $n) (local.set $p)
    (if (call $eq (local.get $p) (local.get $n) (i32.const 0x428) (i32.const 4))
      (then
        (drop (call $log (i32.const 3) (i32.const 0x678) (i32.const 13)))
        (return (i32.const 1))))
    ;; 2. suspended
    (call $meta (i32.const 0x438) (i32.const 9)) (local.set $n) (local.set $p)
    (if (call $eq (local.get $p) (local.get $n) (i32.const 0x428) (i32.const 4))
      (then
        (call $out_reset)
        (call $out (i32.const 0x480) (i32.const 17))
        (call $out (global.get $label_p) (global.get $label_l))
        (call $out_byte (i32.const 0x29))
        (drop (call $deny (i32.const 0x458) (i32.const 13) (i32.const 0x6000) (global.get $olen)))
        (drop (call $deny (i32.const 0x468) (i32.const 13) (i32.const 0x478) (i32.const 7)))
        (return (i32.const 0))))
    ;; 3. deny_code
    (call $meta (i32.const 0x448) (i32.const 9)) (local.set $n) (local.set $p)
    (if (i32.ge_s (local.get $n) (i32.const 0))
      (then
        (call $out_reset)
        (call $out (i32.const 0x498) (i32.const 12))
        (call $out (local.get $p) (local.get $n))
        (drop (call $deny (local.get $p) (local.get $n) (i32.const 0x6000) (global.get $olen)))
        (return (i32.const 0))))
    ;; 4. config
    (call $out_reset)
    (call $out (i32.const 0x4a8) (i32.const 7))
    (call $field (i32.const 13)) (local.set $n) (local.set $p)
    (call $out_or_none (local.get $p) (local.get $n))
    (call $out_log (i32.const 0))
    ;; 5. the request's fields
    (call $out_reset)
    (call $out (i32.const 0x4b0) (i32.const 8)) (call $out (call $field (i32.const 1)))
    (call $out (i32.const 0x4b8) (i32.const 7)) (call $out (call $field (i32.const 2)))
    (call $out (i32.const 0x4c0) (i32.const 8)) (call $out (call $field (i32.const 3)))
    (call $out (i32.const 0x4c8) (i32.const 6)) (call $out (call $field (i32.const 4)))
    (call $out (i32.const 0x4d0) (i32.const 6)) (call $out (call $field (i32.const 17)))
    (call $out (i32.const 0x4d8) (i32.const 5)) (call $out (call $field (i32.const 5)))
    (call $out (i32.const 0x4e0) (i32.const 5)) (call $out (call $field (i32.const 8)))
    (call $out (i32.const 0x4e8) (i32.const 6)) (call $out (call $field (i32.const 14)))
    (call $out_log (i32.const 1))
    ;; 6. scopes
    (call $out_reset)
    (call $out (i32.const 0x4f0) (i32.const 10))
    (call $field (i32.const 6)) (local.set $n) (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $out (i32.const 0x408) (i32.const 6)))
      (else (call $out_list (local.get $p) (local.get $n))))
    (call $out (i32.const 0x500) (i32.const 8)) (call $out_list (call $field (i32.const 7)))
    (call $out (i32.const 0x508) (i32.const 9)) (call $out_list (call $field (i32.const 18)))
    (call $out_log (i32.const 1))
    ;; 7. the optional fields and the time
    (call $out_reset)
    (call $out (i32.const 0x518) (i32.const 5)) (call $out_or_none (call $field (i32.const 9)))
    (call $out (i32.const 0x520) (i32.const 4)) (call $out_or_none (call $field (i32.const 10)))
    (call $out (i32.const 0x528) (i32.const 4)) (call $out_or_none (call $field (i32.const 11)))
    (call $out (i32.const 0x530) (i32.const 5)) (call $out_or_none (call $field (i32.const 12)))
    (call $out (i32.const 0x538) (i32.const 6)) (call $out (call $field (i32.const 16)))
    (call $out (i32.const 0x748) (i32.const 4)) (call $out (call $field (i32.const 15)))
    (call $out_log (i32.const 1))
    ;; 8. lengths of a secret and a metadata value
    (call $out_reset)
    (call $out (i32.const 0x540) (i32.const 7))
    (call $secret (i32.const 0x550) (i32.const 5)) (local.set $n) (drop)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $out (i32.const 0x408) (i32.const 6)))
      (else (call $out_uint (local.get $n))))
    (call $out (i32.const 0x548) (i32.const 6))
    (call $meta (i32.const 0x558) (i32.const 4)) (local.set $n) (drop)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $out (i32.const 0x408) (i32.const 6)))
      (else (call $out_uint (local.get $n))))
    (call $out_log (i32.const 1))
    ;; 9. scopes
    (if (call $eq (local.get $tp) (local.get $tl) (i32.const 0x560) (i32.const 4))
      (then
        (drop (call $add_scope (i32.const 0x568) (i32.const 10) (i32.const 0x578) (i32.const 10)))
        ;; each string of extra
        (local.set $p (global.get $extra_p))
        (local.set $end (i32.add (local.get $p) (global.get $extra_l)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))   ;; past '['
        (block $done
          (loop $next
            (local.set $p (call $ws (local.get $p) (local.get $end)))
            (br_if $done (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x22)))
            (local.set $q (call $skip (local.get $p) (local.get $end)))
            (drop (call $add_scope (i32.add (local.get $p) (i32.const 1)) (i32.sub (i32.sub (local.get $q) (local.get $p)) (i32.const 2))
                                   (i32.const 0x588) (i32.const 17)))
            (local.set $p (call $ws (local.get $q) (local.get $end)))
            (br_if $done (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x2c)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $next))))
      (else
        (if (call $has_scope (i32.const 0x5a0) (i32.const 12))
          (then (drop (call $remove_scope (i32.const 0x5a0) (i32.const 12) (i32.const 0x5b0) (i32.const 17)))))))
    ;; 10. the tier claim
    (call $out_reset)
    (call $out_json_str (local.get $tp) (local.get $tl))
    (drop (call $set_claim (i32.const 0x410) (i32.const 4) (i32.const 0x6000) (global.get $olen) (i32.const 0x5c8) (i32.const 11)))
    ;; 11. the config claim (the host compacts its JSON)
    (call $out_reset)
    (call $out (i32.const 0x5d8) (i32.const 9))
    (call $out (global.get $extra_p) (global.get $extra_l))
    (call $out (i32.const 0x5e8) (i32.const 9))
    (call $out_json_str (global.get $label_p) (global.get $label_l))
    (call $out (i32.const 0x5f8) (i32.const 9))
    (call $out (global.get $limit_p) (global.get $limit_l))
    (call $out (i32.const 0x608) (i32.const 10))
    (call $out (global.get $strict_p) (global.get $strict_l))
    (call $out_byte (i32.const 0x7d))
    (drop (call $set_claim (i32.const 0x618) (i32.const 4) (i32.const 0x6000) (global.get $olen) (i32.const 0x620) (i32.const 12)))
    ;; 12. the user's email, from the input document
    (call $field (i32.const 9)) (local.set $n) (drop)
    (if (i32.ge_s (local.get $n) (i32.const 0))
      (then
        (call $document) (local.set $n) (local.set $p)
        (call $get (local.get $p) (local.get $n) (i32.const 0x630) (i32.const 4)) (local.set $n) (local.set $p)
        (call $get (local.get $p) (local.get $n) (i32.const 0x638) (i32.const 5)) (local.set $m) (local.set $q)
        (if (i32.gt_s (local.get $m) (i32.const 2))
          (then (drop (call $set_claim (i32.const 0x638) (i32.const 5) (local.get $q) (local.get $m) (i32.const 0x640) (i32.const 23)))))))
    ;; 13, 14
    (drop (call $remove_claim (i32.const 0x658) (i32.const 6) (i32.const 0x660) (i32.const 14)))
    (call $out_reset)
    (call $out (i32.const 0x670) (i32.const 5))
    (call $out (local.get $tp) (local.get $tl))
    (call $out_log (i32.const 2))
    (i32.const 0)))
