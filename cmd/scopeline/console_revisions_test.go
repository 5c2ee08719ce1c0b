package main

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scopeline/scopeline/engine/demo"
	"github.com/scopeline/scopeline/engine/tenantstore"
)

// The console lists the tenant store's revisions newest first, with who
// pushed each, and reads any of them back as the file pushed.
func TestConsoleReadsStoredRevisions(t *testing.T) {
	nc, err := nats.Connect(startNATS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := tenantstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	v1 := string(demo.Tenant)
	v2 := strings.Replace(v1, "    name: Demo machine client", "    name: Renamed machine client", 1)
	if v1 == v2 {
		t.Fatal("the demo tenant changed; update the test")
	}
	var last uint64 // the revision each push read: 0, the store empty
	for _, p := range []struct{ file, by string }{{v1, "alice"}, {v2, "bob"}} {
		r, err := store.PushFile(ctx, []byte(p.file), "tenant.yaml", p.by, last)
		if err != nil {
			t.Fatal(err)
		}
		last = r.Number
	}
	if _, err := store.Rollback(ctx, 1, "carol", last); err != nil {
		t.Fatal(err)
	}

	rs := storedRevisions{store}
	list, err := rs.Revisions(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "3" || list[0].By != "carol" || list[0].Note != "rollback to revision 1" ||
		list[1].ID != "2" || list[1].By != "bob" || list[1].Note != "tenant.yaml" {
		t.Fatalf("revisions, newest first, at most 2: %+v", list)
	}
	for id, want := range map[string]string{"1": v1, "2": v2, "3": v1} {
		got, err := rs.RevisionText(ctx, id)
		if err != nil {
			t.Fatalf("revision %s: %v", id, err)
		}
		if string(got) != want {
			t.Errorf("revision %s reads back other than pushed", id)
		}
	}
	for _, id := range []string{"9", "x", "-1"} {
		if _, err := rs.RevisionText(ctx, id); err == nil {
			t.Errorf("revision %q: no error", id)
		}
	}
}
