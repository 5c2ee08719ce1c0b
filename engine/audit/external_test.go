package audit_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/scopeline/scopeline/engine/settings"
)

// TestExternalServerWithTLSAndCredentials publishes to an external server
// that requires mutual TLS and a user JWT (a credentials file), the way a
// production NATS account is set up, with the settings read from a tenant
// file.
func TestExternalServerWithTLSAndCredentials(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)

	// An operator, an account with JetStream, and a user of it.
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	ajwt, err := ac.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	creds, _ := jwt.FormatUserConfig(ujwt, seed)
	if err := os.WriteFile(filepath.Join(dir, "audit.creds"), creds, 0o600); err != nil {
		t.Fatal(err)
	}
	skp, _ := nkeys.CreateAccount() // the system account JetStream needs
	spub, _ := skp.PublicKey()
	sjwt, err := jwt.NewAccountClaims(spub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	resolver.Store(apub, ajwt)
	resolver.Store(spub, sjwt)

	tlsConfig, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
		CaFile: filepath.Join(dir, "ca.pem"), Verify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		TLS: true, TLSVerify: true, TLSConfig: tlsConfig, TLSTimeout: 5,
		TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver, SystemAccount: spub,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("server did not start")
	}
	t.Cleanup(s.Shutdown)
	url := "tls://" + s.Addr().String()

	src := "nats:\n  url: " + url + "\n  credentials: audit.creds\n  tls: {ca: ca.pem, cert: client.pem, key: client-key.pem}\n"
	st, err := settings.Parse([]byte(src), filepath.Join(dir, "settings.yaml"), dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.Audit
	cfg.Spool.Dir = t.TempDir()
	p := openPublisher(t, cfg)
	waitFor(t, "the stream over TLS with credentials", patience, func() bool { return p.Ready(context.Background()) == nil })
	srv := startIssuer(t, p)
	r := newResults()
	newTokenClient(srv).request(t, r, "demo-m2m", "demo-m2m-secret", "read:users")
	if r.count(200) != 1 {
		t.Fatalf("answers %v %v", r.statuses, r.bodies)
	}
	events := streamEvents(t, url, nats.UserCredentials(filepath.Join(dir, "audit.creds")),
		nats.RootCAs(filepath.Join(dir, "ca.pem")), nats.ClientCert(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")))
	checkExactlyOnce(t, r, events, false, "demo-m2m-secret")

	// Without the client certificate the server refuses the connection.
	if nc, err := nats.Connect(url, nats.UserCredentials(filepath.Join(dir, "audit.creds")), nats.RootCAs(filepath.Join(dir, "ca.pem"))); err == nil {
		nc.Close()
		t.Error("connected without a client certificate")
	}
}

// newCert writes name.pem and name-key.pem: a CA when parent is nil, else
// a certificate for 127.0.0.1 signed by it.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	return cert, key
}
