package hooks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scopeline/scopeline/engine/tenant"
)

func TestSmokeModes(t *testing.T) {
	h := newHost(t)
	for _, m := range []string{"D", "L", "T", "G", "R", "O", "B", "M", "C", "F", "S", "U", "X", "E"} {
		hk, err := h.Load(context.Background(), spec("m"+m, "testdata/faulty.wasm", `"`+m+`"`, tenant.FailDeny))
		if err != nil {
			t.Fatal(m, err)
		}
		start := time.Now()
		res, err := hk.Invoke(context.Background(), transaction(t))
		fmt.Printf("%s %v err=%v discarded=%d\n", m, time.Since(start), err, hk.Discarded())
		if res != nil {
			fmt.Printf("   ops=%d deny=%v logs=%d dropped=%d\n", len(res.Ops), res.Deny, len(res.Logs), res.DroppedLogs)
		}
		hk.Close()
	}
	_, err := h.Load(context.Background(), spec("I", "testdata/faulty.wasm", `"I"`, tenant.FailDeny))
	fmt.Println("I", err)
	_, err = h.Load(context.Background(), spec("F", "testdata/forbidden.wasm", ``, tenant.FailDeny))
	fmt.Println("forbidden", err)
	_, err = h.Load(context.Background(), spec("N", "testdata/nomarker.wasm", ``, tenant.FailDeny))
	fmt.Println("nomarker", err)
}
