package kervi

import (
	"bytes"
	"errors"
	"flag"
	"runtime"
)

// errTestFunction explains why a module process of a test binary refuses
// to run its module.
var errTestFunction = errors.New("this module process was started from a test function of a test binary; " +
	"a test binary must serve its module processes from TestMain, before m.Run: " +
	"func TestMain(m *testing.M) { if kervi.IsModuleProcess() { app, _ := newApp(); app.Run(context.Background()) }; os.Exit(m.Run()) } " +
	"(see \"Testing\" in the package doc), or run the application in one process with kervi.InProcess()")

// testFunctionError reports, in a module process, whether it is a test
// binary running its tests: the module's Run was reached from a test
// function rather than from TestMain. Such a process would run the
// binary's other tests first and end with os.Exit inside a test.
func testFunctionError() error {
	if flag.Lookup("test.run") == nil || !flag.Parsed() {
		return nil // not a test binary, or TestMain before m.Run
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	if bytes.Contains(buf[:n], []byte("\ntesting.tRunner(")) {
		return errTestFunction
	}
	return nil
}
