;; faulty.wat: a hook that misbehaves on purpose, for the host's fault
;; table. Its config is a one-letter JSON string naming the misdeed:
;;
;;   "K" behave: add read:users, set claim "k" = 1, log "ok"
;;   "D" deny with access_denied
;;   "L" loop forever            "T" trap (unreachable)
;;   "G" grow memory past the cap "R" recurse without end
;;   "O" log from a pointer outside memory
;;   "B" add a scope whose name is 1 MiB long
;;   "M" stage 100 ops (the cap is 64)
;;   "C" return 7, not a return code of ABI v1
;;   "F" log 10000 lines        "S" set reserved claims (sub, iss)
;;   "U" add a scope the API does not define
;;   "X" call WASI proc_exit(3)
;;   "I" loop forever in scopeline_init
;;   "A" first run: grow memory past the cap, take the refusal in its
;;       stride and succeed; later runs: trap (unreachable)
;;   "N" log a line of 1023 ASCII bytes and then "é", across the 1 KiB cut
;;   "W" read randomness (WASI random_get) in scopeline_init, then behave
;;       as a no-op: the host's tests slow the start through the reader
;;   "E" return 1 (the hook's own error) after logging
;;   "P" loop forever writing to its memory
;;   "V" loop forever when the request's user agent starts with "L",
;;       else return at once: one hook, good and runaway requests
;;   "J" set claim "k" to `gold`, which is not JSON
;;   "Q" write "out-" to stdout, "err\n" to stderr, then "put\n" to stdout
;;   "Y" log "bad config" in scopeline_init and return 1 from it
;;   "H" log a message of 20000 bytes (an argument is at most 16 KiB)
;;   "Z" log 4000 bytes starting 2000 bytes before the end of its memory
;;
;; Build: wat2wasm faulty.wat -o faulty.wasm
(module
  (import "scopeline" "field" (func $field (param i32 i32 i32) (result i32)))
  (import "scopeline" "add_scope" (func $add_scope (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "set_claim" (func $set_claim (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "scopeline" "deny" (func $deny (param i32 i32 i32 i32) (result i32)))
  (import "scopeline" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "read:users")       ;; 0, 10
  (data (i32.const 16) "k")               ;; 16, 1
  (data (i32.const 20) "1")               ;; 20, 1
  (data (i32.const 24) "ok")              ;; 24, 2
  (data (i32.const 32) "access_denied")   ;; 32, 13
  (data (i32.const 48) "no")              ;; 48, 2
  (data (i32.const 64) "sub")             ;; 64, 3
  (data (i32.const 68) "iss")             ;; 68, 3
  (data (i32.const 72) "\"x\"")           ;; 72, 3
  (data (i32.const 80) "admin:everything");; 80, 16
  (data (i32.const 96) "flood")           ;; 96, 5
  (data (i32.const 112) "failing on purpose") ;; 112, 18
  (data (i32.const 132) "gold")           ;; 132, 4
  (data (i32.const 140) "out-err\0aput\0a") ;; 140, 4 + 4 + 4
  (data (i32.const 160) "\8c\00\00\00\04\00\00\00") ;; iovec "out-"
  (data (i32.const 168) "\90\00\00\00\04\00\00\00") ;; iovec "err\n"
  (data (i32.const 176) "\94\00\00\00\04\00\00\00") ;; iovec "put\n"
  (data (i32.const 192) "bad config")     ;; 192, 10
  (global $depth (mut i32) (i32.const 0))
  (global $refused (mut i32) (i32.const 0))
  (func (export "scopeline_abi_v1"))
  ;; mode reads the config's letter (config is "\"X\"": the letter is at 513).
  (func $mode (result i32)
    (if (i32.ne (call $field (i32.const 13) (i32.const 512) (i32.const 16)) (i32.const 3))
      (then (return (i32.const 75)))) ;; 'K'
    (i32.load8_u (i32.const 513)))
  (func (export "scopeline_init") (result i32)
    (if (i32.eq (call $mode) (i32.const 73)) ;; 'I'
      (then (loop $forever (br $forever))))
    (if (i32.eq (call $mode) (i32.const 87)) ;; 'W'
      (then (drop (call $random_get (i32.const 256) (i32.const 8)))))
    (if (i32.eq (call $mode) (i32.const 89)) ;; 'Y'
      (then
        (drop (call $log (i32.const 3) (i32.const 192) (i32.const 10)))
        (return (i32.const 1))))
    (i32.const 0))
  (func $recurse (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "scopeline_run") (result i32) (local $m i32) (local $i i32)
    (local.set $m (call $mode))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 75))) ;; K
      (drop (call $add_scope (i32.const 0) (i32.const 10) (i32.const 24) (i32.const 2)))
      (drop (call $set_claim (i32.const 16) (i32.const 1) (i32.const 20) (i32.const 1) (i32.const 24) (i32.const 2)))
      (drop (call $log (i32.const 1) (i32.const 24) (i32.const 2)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 68))) ;; D
      (drop (call $deny (i32.const 32) (i32.const 13) (i32.const 48) (i32.const 2)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 76))) ;; L
      (loop $forever (br $forever)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 80))) ;; P
      (loop $forever
        (i32.store (i32.const 1024) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $forever)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 84))) ;; T
      (unreachable))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 71))) ;; G
      (loop $grow
        (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      (unreachable))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 82))) ;; R
      (return (call $recurse (i32.const 0))))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 79))) ;; O
      (drop (call $log (i32.const 1) (i32.const 0x7ffffff0) (i32.const 64)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 66))) ;; B
      (drop (call $add_scope (i32.const 0) (i32.const 1048576) (i32.const 24) (i32.const 2)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 77))) ;; M
      (loop $ops
        (drop (call $add_scope (i32.const 0) (i32.const 10) (i32.const 24) (i32.const 2)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $ops (i32.lt_u (local.get $i) (i32.const 100))))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 67))) ;; C
      (return (i32.const 7)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 70))) ;; F
      (loop $lines
        (drop (call $log (i32.const 1) (i32.const 96) (i32.const 5)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $lines (i32.lt_u (local.get $i) (i32.const 10000))))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 83))) ;; S
      (drop (call $set_claim (i32.const 64) (i32.const 3) (i32.const 72) (i32.const 3) (i32.const 24) (i32.const 2)))
      (drop (call $set_claim (i32.const 68) (i32.const 3) (i32.const 72) (i32.const 3) (i32.const 24) (i32.const 2)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 85))) ;; U
      (drop (call $add_scope (i32.const 80) (i32.const 16) (i32.const 24) (i32.const 2)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 88))) ;; X
      (call $proc_exit (i32.const 3))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 65))) ;; A
      (if (global.get $refused) (then (unreachable)))
      (global.set $refused (i32.eq (memory.grow (i32.const 32)) (i32.const -1)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 78))) ;; N
      (memory.fill (i32.const 1024) (i32.const 97) (i32.const 1023)) ;; 'a'
      (i32.store16 (i32.const 2047) (i32.const 0xA9C3)) ;; "é" (C3 A9) at 1023
      (drop (call $log (i32.const 1) (i32.const 1024) (i32.const 1100)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 86))) ;; V
      (br_if $done (i32.lt_s (call $field (i32.const 11) (i32.const 600) (i32.const 256)) (i32.const 1)))
      (br_if $done (i32.ne (i32.load8_u (i32.const 600)) (i32.const 76))) ;; 'L'
      (loop $forever (br $forever)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 74))) ;; J
      (drop (call $set_claim (i32.const 16) (i32.const 1) (i32.const 132) (i32.const 4) (i32.const 24) (i32.const 2)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 81))) ;; Q
      (drop (call $fd_write (i32.const 1) (i32.const 160) (i32.const 1) (i32.const 184)))
      (drop (call $fd_write (i32.const 2) (i32.const 168) (i32.const 1) (i32.const 184)))
      (drop (call $fd_write (i32.const 1) (i32.const 176) (i32.const 1) (i32.const 184)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 72))) ;; H
      (drop (call $log (i32.const 1) (i32.const 0) (i32.const 20000)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 90))) ;; Z
      (drop (call $log (i32.const 1) (i32.const 63536) (i32.const 4000)))
      (return (i32.const 0)))
    (block $done
      (br_if $done (i32.ne (local.get $m) (i32.const 69))) ;; E
      (drop (call $log (i32.const 3) (i32.const 112) (i32.const 18)))
      (return (i32.const 1)))
    (i32.const 0))
)
