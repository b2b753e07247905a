//go:build !race

package kervi_test

// hammerCalls is how many calls TestDirectoryIsBounded makes to ids nobody
// owns (see badinput_race_test.go).
const hammerCalls = 200000
