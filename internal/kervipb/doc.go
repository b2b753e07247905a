// Package kervipb holds the Go code generated from proto/kervi.proto: the
// messages the kervi hub and its module processes exchange, and the Module
// gRPC service that carries them. Run `make proto` to regenerate it.
//
// Applications never need this package; it is public so that module
// processes written in other languages can speak the same protocol
// (docs/protocol.md).
package kervipb
