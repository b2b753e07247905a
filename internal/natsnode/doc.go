// Package natsnode runs the NATS server of a multi-machine kervi application
// and connects nodes to it with kervi's settings: one NKEY user per node,
// per-node permissions confined to the application's subject prefix, TLS
// beyond loopback, fast detection of a silent drop and no stale publish
// burst after a reconnect.
//
// Subjects, with P = Prefix(app):
//
//	P.ev.<node>.<escaped id>  value events, published only by their owner
//	P.to.<to>.<from>.req      calls, sets and gets from a node to a node
//	P.to.<to>.<from>.ctl      control requests from a node to a node
//	P.cat.<node>              catalogue changes published by a node
//	P.hb.<node>               heartbeats published by a node
//	P.in.<node>.>             the node's reply inbox
package natsnode
