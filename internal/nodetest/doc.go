// Package nodetest tests applications on several nodes as their users run
// them: the main node in the test's process, the other nodes as processes
// of the test binary, each with its own node name, joined over NATS
// through a fault-injecting proxy. It has no code of its own.
package nodetest
