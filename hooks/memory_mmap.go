//go:build linux || darwin || freebsd

package hooks

import "syscall"

// mapMemory maps limit bytes of anonymous memory without committing
// them (MAP_NORESERVE): the kernel backs a page with zeros when the guest
// first touches it, and release unmaps the whole range. It fails (and the
// caller falls back to Go memory) where the address space is short.
func mapMemory(limit uint64) (buf []byte, release func(), ok bool) {
	if limit == 0 || limit > uint64(^uint(0)>>1) {
		return nil, nil, false
	}
	b, err := syscall.Mmap(-1, 0, int(limit), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, nil, false
	}
	return b, func() { syscall.Munmap(b) }, true
}
