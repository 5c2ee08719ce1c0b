;; fixture.wat: what the wasmguard rewrite must keep working.
;;
;; Build: wat2wasm fixture.wat -o fixture.wasm
(module
  (import "env" "double" (func $double (param i32) (result i32)))
  (import "env" "g" (global $imported i32))
  (global $count (mut i32) (i32.const 0))
  (memory (export "memory") 1)
  ;; returns from inside nested blocks and a loop
  (func (export "early") (param $n i32) (result i32)
    (block $out
      (if (i32.eqz (local.get $n)) (then (return (i32.const -1))))
      (loop $l
        (if (i32.gt_u (local.get $n) (i32.const 10)) (then (return (i32.const 10))))
        (br_if $out (i32.ge_u (local.get $n) (i32.const 5)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n))
  ;; a branch to the function's own label
  (func (export "sum") (param $n i32) (result i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (br 0 (local.get $s)))
  ;; multi-value results
  (func (export "pair") (param $n i32) (result i32 i32)
    (if (local.get $n) (then (return (local.get $n) (i32.const 1))))
    (i32.const 0) (i32.const 0))
  (func (export "table") (param $i i32) (result i32)
    (block $c (block $b (block $a
      (br_table $a $b $c (local.get $i)))
      (return (i32.const 100)))
      (return (i32.const 200)))
    (i32.const 300))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "imported") (param $n i32) (result i32)
    (call $double (local.get $n)))
  (func (export "counter") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (global.get $count))
  (func (export "forever") (loop $l (br $l)))
)
