;; env.wat: what fixture.wat imports (a function and a global).
;;
;; Build: wat2wasm env.wat -o env.wasm
(module
  (global (export "g") i32 (i32.const 7))
  (func (export "double") (param i32) (result i32)
    (i32.mul (local.get 0) (i32.const 2))))
