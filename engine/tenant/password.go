package tenant

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are the argon2id cost parameters of a password hash.
type Argon2Params struct {
	// Memory is in KiB, as in the PHC string's m=.
	Memory  uint32
	Time    uint32
	Threads uint8
}

// DefaultArgon2 are the parameters HashPassword uses: OWASP's argon2id
// recommendation (19 MiB, 2 passes, 1 lane), about 30–60 ms on one core.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Limits on the cost of a password hash a tenant file may hold, so that a
// single login cannot take seconds or hundreds of MiB.
const (
	maxArgon2Memory  = 256 * 1024 // KiB
	maxArgon2Time    = 16
	maxArgon2Threads = 16
	maxBcryptCost    = 14
	argon2KeyLen     = 32
	argon2SaltLen    = 16
)

// MaxPasswordLen bounds the passwords Scopeline hashes or checks.
const MaxPasswordLen = 1024

// PasswordHash is a parsed password hash: argon2id in the PHC string format
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>") or bcrypt ("$2b$...").
type PasswordHash struct {
	argon  *Argon2Params
	salt   []byte
	key    []byte
	bcrypt []byte
	// credential names the hash as written (the start of its SHA-256,
	// base64url): it changes with the password (a new salt), and says
	// nothing of it (User.Credential).
	credential string
}

var phcB64 = base64.RawStdEncoding

// ParsePasswordHash reads an argon2id or bcrypt hash, refusing costs above
// Scopeline's limits.
func ParsePasswordHash(s string) (*PasswordHash, error) {
	h, err := parsePasswordHash(s)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(s))
	h.credential = base64.RawURLEncoding.EncodeToString(sum[:16])
	return h, nil
}

func parsePasswordHash(s string) (*PasswordHash, error) {
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2(s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("malformed bcrypt hash: %v", strings.TrimPrefix(err.Error(), "crypto/bcrypt: "))
		}
		if cost > maxBcryptCost {
			return nil, fmt.Errorf("bcrypt cost %d is above the limit of %d", cost, maxBcryptCost)
		}
		return &PasswordHash{bcrypt: []byte(s)}, nil
	case strings.HasPrefix(s, "$argon2i$"), strings.HasPrefix(s, "$argon2d$"):
		return nil, errors.New("only argon2id is accepted among the argon2 variants")
	}
	return nil, errors.New(`must be an argon2id ("$argon2id$...") or bcrypt ("$2b$...") hash; make one with: scopeline user hash-password`)
}

func parseArgon2(s string) (*PasswordHash, error) {
	bad := errors.New(`malformed argon2id hash: want "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>" (unpadded base64)`)
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return nil, bad
	}
	var p Argon2Params
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return nil, bad
		}
		switch k {
		case "m":
			p.Memory, seen = uint32(n), seen|1
		case "t":
			p.Time, seen = uint32(n), seen|2
		case "p":
			if n > 255 {
				return nil, bad
			}
			p.Threads, seen = uint8(n), seen|4
		default:
			return nil, bad
		}
	}
	if seen != 7 {
		return nil, bad
	}
	salt, err1 := phcB64.DecodeString(parts[4])
	key, err2 := phcB64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return nil, bad
	}
	switch {
	case p.Threads < 1 || p.Threads > maxArgon2Threads:
		return nil, fmt.Errorf("argon2id lanes (p) must be 1 to %d", maxArgon2Threads)
	case p.Time < 1 || p.Time > maxArgon2Time:
		return nil, fmt.Errorf("argon2id passes (t) must be 1 to %d", maxArgon2Time)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgon2Memory:
		return nil, fmt.Errorf("argon2id memory (m) must be at least 8 KiB per lane and at most %d KiB", maxArgon2Memory)
	}
	return &PasswordHash{argon: &p, salt: salt, key: key}, nil
}

// Verify reports whether password matches, comparing in constant time.
func (h *PasswordHash) Verify(password string) bool {
	if len(password) > MaxPasswordLen {
		h.verify(password[:MaxPasswordLen]) // the same work; it cannot match
		return false
	}
	return h.verify(password)
}

func (h *PasswordHash) verify(password string) bool {
	if h.argon != nil {
		got := argon2.IDKey([]byte(password), h.salt, h.argon.Time, h.argon.Memory, h.argon.Threads, uint32(len(h.key)))
		return subtle.ConstantTimeCompare(got, h.key) == 1
	}
	return bcrypt.CompareHashAndPassword(h.bcrypt, []byte(password)) == nil
}

// HashPassword hashes password with argon2id and the given parameters,
// drawing the salt from random. It returns the PHC string.
func HashPassword(password string, p Argon2Params, random io.Reader) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, argon2SaltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argon2KeyLen)
	s := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Time, p.Threads, phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
	if _, err := ParsePasswordHash(s); err != nil { // parameters outside the limits
		return "", err
	}
	return s, nil
}

// decoyPasswordHash is checked when a tenant has no user with a password:
// its password is unknown (random bytes thrown away); its parameters are
// DefaultArgon2.
const decoyPasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$FVD8b6GdeBKdooDShUVrrw$p51hymKj58CZCA3vLdFIj10BGO98aM6AMewHd8dMpgU"

// defaultDecoy is decoyPasswordHash, parsed once.
var defaultDecoy = func() *PasswordHash {
	h, err := ParsePasswordHash(decoyPasswordHash)
	if err != nil {
		panic("tenant: the decoy password hash does not parse: " + err.Error())
	}
	return h
}()

// decoy is what checking a password against h costs, with nothing that
// can match: the same kind, parameters, salt and key lengths, random
// bytes. A check against it takes the work of a check against h.
func (h *PasswordHash) decoy(random io.Reader) (*PasswordHash, error) {
	if h.argon != nil {
		d := &PasswordHash{argon: h.argon, salt: make([]byte, len(h.salt)), key: make([]byte, len(h.key))}
		if _, err := io.ReadFull(random, d.salt); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(random, d.key); err != nil {
			return nil, err
		}
		return d, nil
	}
	cost, err := bcrypt.Cost(h.bcrypt)
	if err != nil {
		return nil, err
	}
	// 22 characters of salt and 31 of hash, in bcrypt's base64 alphabet.
	const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 53)
	if _, err := io.ReadFull(random, b); err != nil {
		return nil, err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return &PasswordHash{bcrypt: fmt.Appendf(nil, "$2b$%02d$%s", cost, b)}, nil
}

// cost names what checking against h costs: its kind and parameters.
func (h *PasswordHash) cost() string {
	if h.argon != nil {
		return fmt.Sprintf("argon2id m=%d t=%d p=%d salt=%d key=%d", h.argon.Memory, h.argon.Time, h.argon.Threads, len(h.salt), len(h.key))
	}
	c, _ := bcrypt.Cost(h.bcrypt)
	return fmt.Sprintf("bcrypt %d", c)
}

// decoys stand in for the tenant's users when a login names nobody (or a
// user without a password): one per kind and cost of hash in use, made at
// load, so that an unknown login costs what a known one does, whichever
// hashes the users have. Which decoy a login gets is fixed per login (a
// keyed hash of it) and follows how many users have each cost, so timing
// an unknown login looks like timing some user's.
type decoys struct {
	hashes []*PasswordHash
	users  []int // users per hash, in order
	total  int
	key    [32]byte
}

func newDecoys(users []*User, random io.Reader) (*decoys, error) {
	d := &decoys{}
	if _, err := io.ReadFull(random, d.key[:]); err != nil {
		return nil, err
	}
	index := map[string]int{}
	for _, u := range users {
		if u.password == nil {
			continue
		}
		c := u.password.cost()
		i, ok := index[c]
		if !ok {
			h, err := u.password.decoy(random)
			if err != nil {
				return nil, err
			}
			i = len(d.hashes)
			index[c] = i
			d.hashes = append(d.hashes, h)
			d.users = append(d.users, 0)
		}
		d.users[i]++
		d.total++
	}
	return d, nil
}

// forLogin returns the decoy hash a login that names no user is checked
// against.
func (d *decoys) forLogin(login string) *PasswordHash {
	if d == nil || d.total == 0 {
		return defaultDecoy
	}
	mac := hmac.New(sha256.New, d.key[:])
	mac.Write([]byte(LoginKey(login)))
	n := int(binary.BigEndian.Uint64(mac.Sum(nil)) % uint64(d.total))
	for i, c := range d.users {
		if n < c {
			return d.hashes[i]
		}
		n -= c
	}
	return d.hashes[len(d.hashes)-1]
}
