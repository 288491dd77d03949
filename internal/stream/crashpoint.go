package stream

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// CrashEnv names the environment variable that makes the operator kill
// itself (SIGKILL, as kill -9 would) in the middle of an atomic batch: after
// staging half of the messages of the Nth batch written to a stream, before
// the commit. Its value is "<stream>:<n>", for example
// "LEADVIBE_FIRINGS:3" or "KV_LEADVIBE_LEADS:1" (a snapshot batch). The
// fault tests of test/e2e set it to prove that a kill there loses and
// repeats nothing; it is unset in every other run, and then costs one
// comparison per batch.
const CrashEnv = "MILESTONE_TRIGGERS_CRASH_IN_BATCH"

// crashPoint is the stream and batch number of CrashEnv, read once; a
// zero value when it is unset or malformed.
var crashPoint = parseCrashPoint(os.Getenv(CrashEnv))

type crashAt struct {
	stream string
	n      int64
}

func parseCrashPoint(v string) crashAt {
	name, n, ok := strings.Cut(v, ":")
	at, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || at <= 0 {
		return crashAt{}
	}
	return crashAt{name, at}
}

var crashBatches atomic.Int64

// crashArmed reports whether CrashEnv names stream.
func crashArmed(stream string) bool { return crashPoint.stream != "" && crashPoint.stream == stream }

// maybeCrash kills the process when this is the batch CrashEnv names.
func maybeCrash(stream string) {
	if crashBatches.Add(1) == crashPoint.n {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
