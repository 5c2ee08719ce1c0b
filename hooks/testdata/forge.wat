;; forge.wat: a post-login hook that tries to forge the claims the issuer
;; writes: reserved names in other letter cases, Unicode case folds and
;; compatibility forms, the RBAC permissions claim and names that fold to
;; it, names that are not NFC, hide invisible characters or are not UTF-8,
;; and values with duplicate members or invalid UTF-8. It stages every op
;; in order; the issuer must refuse all but the first (tier).
;;
;; Build: wat2wasm forge.wat -o forge.wasm
(module
  (import "scopeline" "set_claim" (func $set_claim (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "scopeline" "remove_claim" (func $remove_claim (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "forge")
  (data (i32.const 24) "tier")
  (data (i32.const 32) "\22gold\22")
  (data (i32.const 40) "Tier")
  (data (i32.const 48) "\22platinum\22")
  (data (i32.const 64) "Scope")
  (data (i32.const 72) "\22read:users write:users delete:users\22")
  (data (i32.const 112) "SCOPE")
  (data (i32.const 120) "\22read:users write:users delete:users\22")
  (data (i32.const 160) "\c5\bfcope")
  (data (i32.const 168) "\22read:users write:users delete:users\22")
  (data (i32.const 208) "\ef\bd\93\ef\bd\83\ef\bd\8f\ef\bd\90\ef\bd\85")
  (data (i32.const 224) "\22read:users write:users delete:users\22")
  (data (i32.const 264) "Aud")
  (data (i32.const 272) "\22https://other.example.com\22")
  (data (i32.const 304) "Sub")
  (data (i32.const 312) "\22alice\22")
  (data (i32.const 320) "Exp")
  (data (i32.const 328) "4102444800")
  (data (i32.const 344) "Client_id")
  (data (i32.const 360) "\22demo-m2m\22")
  (data (i32.const 376) "Jti")
  (data (i32.const 384) "\22forged\22")
  (data (i32.const 392) "Iss")
  (data (i32.const 400) "\22https://evil.example\22")
  (data (i32.const 424) "Auth_Time")
  (data (i32.const 440) "0")
  (data (i32.const 448) "permissions")
  (data (i32.const 464) "[\22read:users\22,\22write:users\22,\22delete:users\22]")
  (data (i32.const 512) "Permissions")
  (data (i32.const 528) "[\22read:users\22,\22write:users\22,\22delete:users\22]")
  (data (i32.const 576) "permi\c5\bf\c5\bfions")
  (data (i32.const 592) "[\22read:users\22,\22write:users\22,\22delete:users\22]")
  (data (i32.const 640) "\e2\84\aaid")
  (data (i32.const 648) "\22x\22")
  (data (i32.const 656) "re\cc\81gion")
  (data (i32.const 664) "\22eu\22")
  (data (i32.const 672) "scope\e2\80\8b")
  (data (i32.const 680) "\22x\22")
  (data (i32.const 688) "\e2\80\aescope")
  (data (i32.const 696) "\22x\22")
  (data (i32.const 704) "sco\ffpe")
  (data (i32.const 712) "\22x\22")
  (data (i32.const 720) "tier2")
  (data (i32.const 728) "{\22a\22:1,\22a\22:2}")
  (data (i32.const 744) "tier3")
  (data (i32.const 752) "\22\ff\22")
  (data (i32.const 760) "permissions")
  (data (i32.const 776) "Scope")
  (func (export "scopeline_abi_v1"))
  (func $set (param $name i32) (param $nlen i32) (param $value i32) (param $vlen i32)
    (drop (call $set_claim (local.get $name) (local.get $nlen) (local.get $value) (local.get $vlen) (i32.const 16) (i32.const 5))))
  (func $remove (param $name i32) (param $nlen i32)
    (drop (call $remove_claim (local.get $name) (local.get $nlen) (i32.const 16) (i32.const 5))))
  (func (export "scopeline_run") (result i32)
    ;; set "tier": a custom claim: applied
    (call $set (i32.const 24) (i32.const 4) (i32.const 32) (i32.const 6))
    ;; set "Tier": folds to the claim tier set just before
    (call $set (i32.const 40) (i32.const 4) (i32.const 48) (i32.const 10))
    ;; set "Scope": upper case
    (call $set (i32.const 64) (i32.const 5) (i32.const 72) (i32.const 37))
    ;; set "SCOPE": all upper case
    (call $set (i32.const 112) (i32.const 5) (i32.const 120) (i32.const 37))
    ;; set "\c5\bfcope": U+017F LATIN SMALL LETTER LONG S
    (call $set (i32.const 160) (i32.const 6) (i32.const 168) (i32.const 37))
    ;; set "\ef\bd\93\ef\bd\83\ef\bd\8f\ef\bd\90\ef\bd\85": fullwidth letters (NFKC)
    (call $set (i32.const 208) (i32.const 15) (i32.const 224) (i32.const 37))
    ;; set "Aud"
    (call $set (i32.const 264) (i32.const 3) (i32.const 272) (i32.const 27))
    ;; set "Sub"
    (call $set (i32.const 304) (i32.const 3) (i32.const 312) (i32.const 7))
    ;; set "Exp"
    (call $set (i32.const 320) (i32.const 3) (i32.const 328) (i32.const 10))
    ;; set "Client_id"
    (call $set (i32.const 344) (i32.const 9) (i32.const 360) (i32.const 10))
    ;; set "Jti"
    (call $set (i32.const 376) (i32.const 3) (i32.const 384) (i32.const 8))
    ;; set "Iss"
    (call $set (i32.const 392) (i32.const 3) (i32.const 400) (i32.const 22))
    ;; set "Auth_Time"
    (call $set (i32.const 424) (i32.const 9) (i32.const 440) (i32.const 1))
    ;; set "permissions": written by the issuer (permissions_claim)
    (call $set (i32.const 448) (i32.const 11) (i32.const 464) (i32.const 43))
    ;; set "Permissions"
    (call $set (i32.const 512) (i32.const 11) (i32.const 528) (i32.const 43))
    ;; set "permi\c5\bf\c5\bfions"
    (call $set (i32.const 576) (i32.const 13) (i32.const 592) (i32.const 43))
    ;; set "\e2\84\aaid": U+212A KELVIN SIGN: not NFC
    (call $set (i32.const 640) (i32.const 5) (i32.const 648) (i32.const 3))
    ;; set "re\cc\81gion": e + U+0301 COMBINING ACUTE: not NFC
    (call $set (i32.const 656) (i32.const 8) (i32.const 664) (i32.const 4))
    ;; set "scope\e2\80\8b": U+200B ZERO WIDTH SPACE
    (call $set (i32.const 672) (i32.const 8) (i32.const 680) (i32.const 3))
    ;; set "\e2\80\aescope": U+202E RIGHT-TO-LEFT OVERRIDE
    (call $set (i32.const 688) (i32.const 8) (i32.const 696) (i32.const 3))
    ;; set "sco\ffpe": not UTF-8
    (call $set (i32.const 704) (i32.const 6) (i32.const 712) (i32.const 3))
    ;; set "tier2": a value with a duplicate member
    (call $set (i32.const 720) (i32.const 5) (i32.const 728) (i32.const 13))
    ;; set "tier3": a value that is not UTF-8
    (call $set (i32.const 744) (i32.const 5) (i32.const 752) (i32.const 3))
    ;; remove "permissions"
    (call $remove (i32.const 760) (i32.const 11))
    ;; remove "Scope"
    (call $remove (i32.const 776) (i32.const 5))
    (i32.const 0)))
