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
// "LEADVIBE_FIRINGS:3" or "KV_LEADVIBE_LEADS:1" (a snapshot batch), or
// "<stream>:<n>:<min>" to count only the batches of at least min messages
// (a large snapshot's, not the small ones before it). The
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
	min    int
}

func parseCrashPoint(v string) crashAt {
	name, n, ok := strings.Cut(v, ":")
	n, minSize, sized := strings.Cut(n, ":")
	at, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || at <= 0 {
		return crashAt{}
	}
	c := crashAt{stream: name, n: at}
	if sized {
		if c.min, err = strconv.Atoi(minSize); err != nil || c.min < 0 {
			return crashAt{}
		}
	}
	return c
}

var crashBatches atomic.Int64

// crashArmed reports whether CrashEnv names stream, for a batch of size
// messages.
func crashArmed(stream string, size int) bool {
	return crashPoint.stream != "" && crashPoint.stream == stream && size >= crashPoint.min
}

// maybeCrash kills the process when this is the batch CrashEnv names.
func maybeCrash(stream string) {
	if crashBatches.Add(1) == crashPoint.n {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
