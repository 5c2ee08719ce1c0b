;; spin.wat: for the deadline benchmarks. `empty` returns at once; `spin`
;; loops n times (one back-edge per iteration).
;;
;; Build: wat2wasm spin.wat -o spin.wasm
(module
  (memory (export "memory") 1)
  (func (export "empty"))
  (func (export "spin") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
)
