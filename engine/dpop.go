package engine

import (
	"context"
	"errors"

	"github.com/scopeline/scopeline/sdk/resource/dpop"
)

// DPoP proofs at the token endpoint (RFC 9449 §5) and at the PAR endpoint
// (§10.1). The checks are the SDK's (package dpop), which resource servers
// run too; the settings are the tenant's, so every snapshot has a
// verifier of its own, all sharing the issuer's replay cache.

// nonceLabel names the secret DPoP nonces are made with, derived from the
// tenant's signing key: every replica sharing the keys issues and accepts
// the same nonces (see docs/design.md, "DPoP at the token endpoint").
const nonceLabel = "dpop nonce"

// newDPoP makes the DPoP verifier of snapshot s, whose keys are set.
func (i *Issuer) newDPoP(s *Snapshot) (*dpop.Verifier, error) {
	d := s.tenant.Protocols.DPoP
	opts := []dpop.Option{
		dpop.WithAlgorithms(d.Algorithms...), dpop.WithIATWindow(d.IATWindow), dpop.WithClockSkew(d.ClockSkew),
		dpop.WithClock(i.now), dpop.WithReplayCache(i.dpopReplay),
	}
	if d.Nonce {
		sg, ok := s.keys.signers[s.tenant.Algorithm]
		if !ok {
			return nil, errNoKey
		}
		secret, err := sg.key.DeriveSecret(nonceLabel, 32)
		if err != nil {
			return nil, err
		}
		n, err := dpop.NewNonces(secret, d.NoncePeriod, i.now)
		if err != nil {
			return nil, err
		}
		opts = append(opts, dpop.WithNonces(n))
	}
	return dpop.NewVerifier(opts...)
}

// VerifyDPoP checks a DPoP proof sent with request r (whose URL is the
// endpoint's as the issuer publishes it). It returns the thumbprint of
// the proof's key; refusals are ErrInvalidDPoPProof or ErrUseDPoPNonce
// (answer the latter with DPoPNonce in the DPoP-Nonce header).
func (s *Snapshot) VerifyDPoP(ctx context.Context, proof string, r dpop.Request) (string, error) {
	p, err := s.dpop.Verify(ctx, proof, r)
	var e *dpop.Error
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return "", ErrUseDPoPNonce.WithDescription("the DPoP proof must carry the nonce of the DPoP-Nonce header").Wrap(err)
	case errors.As(err, &e):
		return "", ErrInvalidDPoPProof.WithDescription("%s", e.Description).Wrap(err)
	case err != nil:
		return "", ErrServerError.Wrap(err)
	}
	return p.Thumbprint, nil
}

// DPoPAlgorithms are the algorithms DPoP proofs may be signed with
// (dpop_signing_alg_values_supported).
func (s *Snapshot) DPoPAlgorithms() []string { return s.dpop.Algorithms() }

// DPoPNonce is the nonce DPoP proofs must carry now, "" when the tenant
// requires none.
func (s *Snapshot) DPoPNonce() string { return s.dpop.Nonce() }

// bindDPoP verifies the DPoP proof of a token request, if it has one, and
// binds the transaction to its key. A request without a proof pays
// nothing here.
func (s *Snapshot) bindDPoP(ctx context.Context, r *TokenRequest, tx *Transaction) error {
	if r.DPoP == "" {
		return nil
	}
	jkt, err := s.VerifyDPoP(ctx, r.DPoP, dpop.Request{Method: "POST", URL: r.Endpoint})
	if err != nil {
		return err
	}
	tx.DPoPKey = jkt
	return nil
}
