//go:build race

package kervi_test

// hammerCalls is how many calls TestDirectoryIsBounded makes to ids nobody
// owns: fewer under the race detector, which makes each call about ten
// times slower (the hub grew by 52 MiB per 200 000 before the fix, so
// 50 000 still show a leak).
const hammerCalls = 50000
