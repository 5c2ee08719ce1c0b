;; nomarker.wat: lacks the scopeline_abi_v1 marker export.
;;
;; Build: wat2wasm nomarker.wat -o nomarker.wasm
(module
  (memory (export "memory") 1)
  (func (export "scopeline_run") (result i32) (i32.const 0))
)
