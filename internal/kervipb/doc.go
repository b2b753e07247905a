// Package kervipb holds the Go code generated from proto/kervi.proto: the
// messages the kervi hub and its module processes exchange, and the Module
// gRPC service that carries them. Run `make proto` to regenerate it.
//
// It is internal: applications never need it. proto/kervi.proto and
// docs/protocol.md are the public specification of the wire, from which a
// module process in another language can generate its own code.
package kervipb
