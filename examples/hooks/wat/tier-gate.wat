;; tier-gate.wat: the example hook in raw WebAssembly text, with no SDK:
;; proof that ABI v1 needs nothing but its imports and exports. Same rules
;; as the other examples (see examples/hooks/go/main.go):
;;
;;   - a client whose metadata says suspended: "true" is denied;
;;   - its tier is metadata "tier" (absent, or longer than 62 bytes: "free");
;;   - a gold client always gets read:users; any other loses delete:users;
;;   - the token gets a "tier" claim, and the hook logs "tier=<tier>".
;;
;; Build: wat2wasm examples/hooks/wat/tier-gate.wat -o examples/hooks/wat/tier-gate.wasm
(module
  (import "scopeline" "client_metadata" (func $client_metadata (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "has_scope" (func $has_scope (param i32 i32) (result i32)))
  (import "scopeline" "add_scope" (func $add_scope (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "remove_scope" (func $remove_scope (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "set_claim" (func $set_claim (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "scopeline" "deny" (func $deny (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "log" (func $log (param i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; Constant strings: offset, length.
  (data (i32.const 0) "tier")                                ;; 0, 4
  (data (i32.const 16) "suspended")                          ;; 16, 9
  (data (i32.const 32) "true")                               ;; 32, 4
  (data (i32.const 48) "gold")                               ;; 48, 4
  (data (i32.const 64) "free")                               ;; 64, 4
  (data (i32.const 80) "delete:users")                       ;; 80, 12
  (data (i32.const 96) "only gold clients may delete users") ;; 96, 34
  (data (i32.const 144) "read:users")                        ;; 144, 10
  (data (i32.const 160) "gold clients always read users")    ;; 160, 30
  (data (i32.const 192) "access_denied")                     ;; 192, 13
  (data (i32.const 208) "client is suspended")               ;; 208, 19
  (data (i32.const 240) "client tier")                       ;; 240, 11
  (data (i32.const 256) "tier=")                             ;; 256, 5
  ;; 512: the claim value "\"<tier>\"" (tier at 513, up to 62 bytes)
  ;; 1024: scratch (metadata values, the log line)

  ;; The ABI v1 marker: never called.
  (func (export "scopeline_abi_v1"))

  ;; $eq compares two byte strings.
  (func $eq (param $a i32) (param $alen i32) (param $b i32) (param $blen i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $alen) (local.get $blen)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $alen)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "scopeline_run") (result i32)
    (local $n i32) (local $tlen i32)
    ;; suspended: "true" → deny. A value too long for the buffer (n > 64)
    ;; is not "true" anyway.
    (local.set $n (call $client_metadata (i32.const 16) (i32.const 9) (i32.const 1024) (i32.const 64)))
    (if (call $eq (i32.const 1024) (local.get $n) (i32.const 32) (i32.const 4))
      (then
        (drop (call $deny (i32.const 192) (i32.const 13) (i32.const 208) (i32.const 19)))
        (return (i32.const 0))))
    ;; tier, read straight into the claim buffer after the opening quote.
    (local.set $tlen (call $client_metadata (i32.const 0) (i32.const 4) (i32.const 513) (i32.const 62)))
    (if (i32.or (i32.lt_s (local.get $tlen) (i32.const 0)) (i32.gt_s (local.get $tlen) (i32.const 62)))
      (then
        (memory.copy (i32.const 513) (i32.const 64) (i32.const 4))
        (local.set $tlen (i32.const 4))))
    (if (call $eq (i32.const 513) (local.get $tlen) (i32.const 48) (i32.const 4))
      (then (drop (call $add_scope (i32.const 144) (i32.const 10) (i32.const 160) (i32.const 30))))
      (else
        (if (call $has_scope (i32.const 80) (i32.const 12))
          (then (drop (call $remove_scope (i32.const 80) (i32.const 12) (i32.const 96) (i32.const 34)))))))
    ;; claim tier = "<tier>" (the examples' tiers need no JSON escaping)
    (i32.store8 (i32.const 512) (i32.const 34))
    (i32.store8 (i32.add (i32.const 513) (local.get $tlen)) (i32.const 34))
    (drop (call $set_claim (i32.const 0) (i32.const 4)
                           (i32.const 512) (i32.add (local.get $tlen) (i32.const 2))
                           (i32.const 240) (i32.const 11)))
    ;; log "tier=<tier>"
    (memory.copy (i32.const 1024) (i32.const 256) (i32.const 5))
    (memory.copy (i32.const 1029) (i32.const 513) (local.get $tlen))
    (drop (call $log (i32.const 1) (i32.const 1024) (i32.add (i32.const 5) (local.get $tlen))))
    (i32.const 0))
)
