//go:build wasip1

package abi

import "unsafe"

//go:wasmimport scopeline input
func hostInput(buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport scopeline field
func hostField(id int32, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport scopeline client_metadata
func hostClientMetadata(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport scopeline secret
func hostSecret(name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport scopeline has_scope
func hostHasScope(scope unsafe.Pointer, scopeLen uint32) int32

//go:wasmimport scopeline add_scope
func hostAddScope(scope unsafe.Pointer, scopeLen uint32, reason unsafe.Pointer, reasonLen uint32) int32

//go:wasmimport scopeline remove_scope
func hostRemoveScope(scope unsafe.Pointer, scopeLen uint32, reason unsafe.Pointer, reasonLen uint32) int32

//go:wasmimport scopeline set_claim
func hostSetClaim(name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32, reason unsafe.Pointer, reasonLen uint32) int32

//go:wasmimport scopeline remove_claim
func hostRemoveClaim(name unsafe.Pointer, nameLen uint32, reason unsafe.Pointer, reasonLen uint32) int32

//go:wasmimport scopeline deny
func hostDeny(code unsafe.Pointer, codeLen uint32, reason unsafe.Pointer, reasonLen uint32) int32

//go:wasmimport scopeline log
func hostLog(level int32, msg unsafe.Pointer, msgLen uint32) int32

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport scopeline_abi_v1
func abiV1() {}

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport scopeline_run
func run() int32 {
	if Run == nil {
		return ReturnError
	}
	return Run()
}

//lint:ignore U1000 exported to the host (go:wasmexport)
//go:wasmexport scopeline_init
func initHook() int32 {
	if Init == nil {
		return ReturnOK
	}
	return Init()
}

func init() { Current = wasmHost{} }

// wasmHost calls the imports. Strings are passed as pointer and length;
// values come back through a buffer, retried once at the size the host
// asks for.
type wasmHost struct{}

// scratch is reused across calls (a guest instance runs one call at a
// time); values are copied out of it into strings.
var scratch = make([]byte, 512)

func ptr(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

// get calls a getter with the scratch buffer, growing it if the value does
// not fit.
func get(call func(buf unsafe.Pointer, capacity uint32) int32) (string, bool) {
	n := call(unsafe.Pointer(unsafe.SliceData(scratch)), uint32(len(scratch)))
	if n < 0 {
		return "", false
	}
	if int(n) > len(scratch) {
		scratch = make([]byte, n)
		n = call(unsafe.Pointer(unsafe.SliceData(scratch)), uint32(len(scratch)))
		if n < 0 || int(n) > len(scratch) {
			return "", false
		}
	}
	return string(scratch[:n]), true
}

func (wasmHost) Input() (string, bool) { return get(hostInput) }

func (wasmHost) Field(id int32) (string, bool) {
	return get(func(buf unsafe.Pointer, c uint32) int32 { return hostField(id, buf, c) })
}

func (wasmHost) ClientMetadata(key string) (string, bool) {
	kp, kl := ptr(key)
	return get(func(buf unsafe.Pointer, c uint32) int32 { return hostClientMetadata(kp, kl, buf, c) })
}

func (wasmHost) Secret(name string) (string, bool) {
	np, nl := ptr(name)
	return get(func(buf unsafe.Pointer, c uint32) int32 { return hostSecret(np, nl, buf, c) })
}

func (wasmHost) HasScope(scope string) bool {
	p, l := ptr(scope)
	return hostHasScope(p, l) == 1
}

func (wasmHost) AddScope(scope, reason string) int32 {
	sp, sl := ptr(scope)
	rp, rl := ptr(reason)
	return hostAddScope(sp, sl, rp, rl)
}

func (wasmHost) RemoveScope(scope, reason string) int32 {
	sp, sl := ptr(scope)
	rp, rl := ptr(reason)
	return hostRemoveScope(sp, sl, rp, rl)
}

func (wasmHost) SetClaim(name string, value []byte, reason string) int32 {
	np, nl := ptr(name)
	rp, rl := ptr(reason)
	return hostSetClaim(np, nl, unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value)), rp, rl)
}

func (wasmHost) RemoveClaim(name, reason string) int32 {
	np, nl := ptr(name)
	rp, rl := ptr(reason)
	return hostRemoveClaim(np, nl, rp, rl)
}

func (wasmHost) Deny(code, reason string) int32 {
	cp, cl := ptr(code)
	rp, rl := ptr(reason)
	return hostDeny(cp, cl, rp, rl)
}

func (wasmHost) Log(level int32, msg string) int32 {
	p, l := ptr(msg)
	return hostLog(level, p, l)
}
