;; yield.wat: a module whose memory declares a maximum, looping forever,
;; for the yields of Options.YieldPages.
;;
;; Build: wat2wasm yield.wat -o yield.wasm
(module
  (memory (export "memory") 1 2)
  (func (export "forever") (loop $l (br $l))))
