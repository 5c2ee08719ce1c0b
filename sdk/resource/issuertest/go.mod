module github.com/scopeline/scopeline/sdk/resource/issuertest

go 1.26.0

replace (
	github.com/scopeline/scopeline => ../../..
	github.com/scopeline/scopeline/sdk/hook => ../../hook
	github.com/scopeline/scopeline/sdk/resource => ..
)

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/scopeline/scopeline v0.0.0-00010101000000-000000000000
	github.com/scopeline/scopeline/sdk/resource v0.0.0-00010101000000-000000000000
	golang.org/x/oauth2 v0.37.0
)

require (
	github.com/VictoriaMetrics/metrics v1.45.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/nats-io/nats.go v1.55.0 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/valyala/fastrand v1.1.0 // indirect
	github.com/valyala/histogram v1.2.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
