;; forbidden.wat: imports a WASI function outside the allow-list
;; (sock_accept, a network call): the host must refuse it at load.
;;
;; Build: wat2wasm forbidden.wat -o forbidden.wasm
(module
  (import "wasi_snapshot_preview1" "sock_accept"
    (func $sock_accept (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "scopeline_abi_v1"))
  (func (export "scopeline_run") (result i32) (i32.const 0))
)
