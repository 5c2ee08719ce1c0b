package console

import (
	"net/http"
	"slices"
	"time"

	"github.com/scopeline/scopeline/engine/keys"
)

// keyRow is one signing key as the keys page shows it.
type keyRow struct {
	*keys.Key
	// PublishedUntil is when a retired key leaves the JWKS.
	PublishedUntil time.Time
	Gone           bool // retired and no longer published
}

// nextRotation says, per algorithm, when its next key may start signing.
type nextRotation struct {
	Algorithm string
	Next      *keys.Key
	// From is when a rotation may make it sign (resource servers caching
	// the JWKS hold it by then); Ready whether that is past.
	From  time.Time
	Ready bool
}

type keysView struct {
	State     KeyState
	Rows      []keyRow
	Next      []nextRotation
	JWKS      string
	CanRotate bool
	Flash     string
}

func (c *Console) handleKeys(w http.ResponseWriter, r *http.Request) {
	ks := c.src.Keys()
	now := c.now()
	_, canRotate := c.src.(KeyRotator)
	v := &keysView{State: ks, JWKS: c.prefix + "/.well-known/jwks.json", CanRotate: canRotate}
	if ks.Set != nil {
		for _, k := range ks.Set.Keys() {
			row := keyRow{Key: k}
			if k.Status == keys.StatusRetired {
				row.PublishedUntil = k.Retired.Add(ks.Retain)
				row.Gone = now.After(row.PublishedUntil)
			}
			v.Rows = append(v.Rows, row)
			if k.Status == keys.StatusNext {
				from := k.Created.Add(ks.MinPublished)
				v.Next = append(v.Next, nextRotation{Algorithm: k.Algorithm, Next: k, From: from, Ready: !now.Before(from)})
			}
		}
	}
	order := map[keys.Status]int{keys.StatusCurrent: 0, keys.StatusNext: 1, keys.StatusRetired: 2}
	slices.SortStableFunc(v.Rows, func(a, b keyRow) int {
		if a.Algorithm != b.Algorithm {
			if a.Algorithm < b.Algorithm {
				return -1
			}
			return 1
		}
		return order[a.Status] - order[b.Status]
	})
	switch r.URL.Query().Get("done") {
	case "rotated":
		v.Flash = "The signing keys were rotated: each next key now signs."
	}
	c.render(w, r, http.StatusOK, "keys", &view{Title: "Keys", Nav: "keys", Body: v})
}

// handleRotate rotates the signing keys (operators only).
func (c *Console) handleRotate(w http.ResponseWriter, r *http.Request) {
	kr, ok := c.src.(KeyRotator)
	if !ok {
		c.fail(w, r, errNotFound)
		return
	}
	c.operate(w, r, "rotate", kr.RotateKeys, "Rotation refused", "", "keys", "rotated")
}
