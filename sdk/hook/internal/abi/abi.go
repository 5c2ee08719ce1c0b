// Package abi is the guest side of Scopeline hook ABI v1
// (docs/hook-abi.md): the host functions as a Host, and the entry points
// the exports call. On GOOS=wasip1 Current calls the real imports; on
// other platforms it is nil until package hooktest installs a fake.
package abi

// Field ids of the `field` host function.
const (
	FieldTrigger         = 1
	FieldGrantType       = 2
	FieldClientID        = 3
	FieldClientName      = 4
	FieldAudience        = 5
	FieldRequestedScopes = 6
	FieldScopes          = 7
	FieldSubject         = 8
	FieldUserID          = 9
	FieldIP              = 10
	FieldUserAgent       = 11
	FieldRequestID       = 12
	FieldConfig          = 13
	FieldHookName        = 14
	FieldTime            = 15
	FieldTimeUnix        = 16
	FieldClientType      = 17
	FieldGrantScopes     = 18
)

// Status codes of the host functions.
const (
	StatusOK       = 0
	StatusAbsent   = -1
	StatusNoField  = -2
	StatusNotInRun = -3
)

// Return codes of scopeline_run and scopeline_init.
const (
	ReturnOK    = 0
	ReturnError = 1
)

// Log levels.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)

// Host is what a guest can ask of the host. Getters return the value and
// whether it is present.
type Host interface {
	Input() (string, bool)
	Field(id int32) (string, bool)
	ClientMetadata(key string) (string, bool)
	Secret(name string) (string, bool)
	HasScope(scope string) bool
	AddScope(scope, reason string) int32
	RemoveScope(scope, reason string) int32
	SetClaim(name string, value []byte, reason string) int32
	RemoveClaim(name, reason string) int32
	Deny(code, reason string) int32
	Log(level int32, msg string) int32
}

// Current is the host the SDK talks to.
var Current Host

// Run and Init are what the exports scopeline_run and scopeline_init call;
// the SDK sets them.
var (
	Run  func() int32
	Init func() int32
)
