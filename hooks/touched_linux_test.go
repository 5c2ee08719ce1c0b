package hooks

import (
	"syscall"
	"unsafe"
)

// TouchedBytes returns, for each idle instance of hk whose linear memory
// is a reservation (mapMemory), how many bytes of it are resident: the
// pages the guest touched (mincore(2)). For measuring, not for tests.
func TouchedBytes(hk *WasmHook) []int64 {
	var out []int64
	var held []*instance
	for {
		select {
		case in := <-hk.idle:
			held = append(held, in)
			continue
		default:
		}
		break
	}
	page := syscall.Getpagesize()
	for _, in := range held {
		buf := in.memory.buf
		if in.memory.release == nil || cap(buf) == 0 {
			continue
		}
		n := cap(buf)
		vec := make([]byte, (n+page-1)/page)
		_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1]))), uintptr(n), uintptr(unsafe.Pointer(&vec[0])))
		if errno != 0 {
			continue
		}
		var resident int64
		for _, v := range vec {
			if v&1 != 0 {
				resident += int64(page)
			}
		}
		out = append(out, resident)
	}
	for _, in := range held {
		hk.idle <- in
	}
	return out
}
