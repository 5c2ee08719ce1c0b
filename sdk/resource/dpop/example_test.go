package dpop_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
	"github.com/scopeline/scopeline/sdk/resource/dpop/dpoptest"
)

// ExampleVerifier_Verify checks the proof of a request that presents a
// DPoP-bound access token, as a resource server does: the token's cnf.jkt
// names the key that must have signed the proof.
func ExampleVerifier_Verify() {
	// The client's key pair and request (dpoptest plays the client; its
	// helpers take the testing.TB of a test, which an example lacks).
	t := &testing.T{}
	client := dpoptest.NewKey(t, "ES256")
	token := "an-access-token-bound-to-the-key"
	r, _ := http.NewRequest("GET", "https://api.example.com/users?page=2", nil)
	r.Header.Set("Authorization", "DPoP "+token)
	r.Header.Set("DPoP", client.Proof(t, dpoptest.Proof{Method: "GET", URL: "https://api.example.com/users", AccessToken: token}))

	// The resource server.
	v, _ := dpop.NewVerifier()
	proof, _ := dpop.ProofFrom(r.Header)
	req := dpop.Request{Method: r.Method, URL: "https://api.example.com" + r.URL.RequestURI(), AccessToken: token, Thumbprint: client.Thumbprint()}
	_, err := v.Verify(context.Background(), proof, req)
	fmt.Println("first use:", err)
	_, err = v.Verify(context.Background(), proof, req)
	var e *dpop.Error
	fmt.Println("replayed:", errors.As(err, &e), e.Code)
	// Output:
	// first use: <nil>
	// replayed: true invalid_dpop_proof
}
