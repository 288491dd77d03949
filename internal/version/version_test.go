package version

import (
	"flag"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	main := debug.Module{Path: "github.com/leadvibe/milestone-triggers-operator", Version: "(devel)"}
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{
			name: "a build in a modified clone",
			info: debug.BuildInfo{GoVersion: "go1.26.0", Main: main, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "3f2a9c1d0b7e5a6f7788990011223344556677aa"},
				{Key: "vcs.time", Value: "2026-12-01T11:02:03Z"},
				{Key: "vcs.modified", Value: "true"},
			}},
			want: "github.com/leadvibe/milestone-triggers-operator (devel) revision 3f2a9c1d0b7e (modified) 2026-12-01T11:02:03Z go1.26.0",
		},
		{
			name: "a clean clone",
			info: debug.BuildInfo{GoVersion: "go1.26.0", Main: main, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "3f2a9c1d0b7e5a6f7788990011223344556677aa"},
				{Key: "vcs.time", Value: "2026-12-01T11:02:03Z"},
				{Key: "vcs.modified", Value: "false"},
			}},
			want: "github.com/leadvibe/milestone-triggers-operator (devel) revision 3f2a9c1d0b7e 2026-12-01T11:02:03Z go1.26.0",
		},
		{
			name: "a build stamped with a pseudo-version",
			info: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: main.Path, Version: "v0.0.0-20261201114323-1f17ae57797e+dirty"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "1f17ae57797ed9f21bb6672674413c4592ffec2c"},
				{Key: "vcs.modified", Value: "true"},
			}},
			want: "github.com/leadvibe/milestone-triggers-operator v0.0.0-20261201114323-1f17ae57797e+dirty go1.26.0",
		},
		{
			name: "no build information about the VCS",
			info: debug.BuildInfo{GoVersion: "go1.26.0", Main: main},
			want: "github.com/leadvibe/milestone-triggers-operator (devel) go1.26.0",
		},
		{
			name: "go install at a tag",
			info: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: main.Path, Version: "v0.3.0"}},
			want: "github.com/leadvibe/milestone-triggers-operator v0.3.0 go1.26.0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := format(&tc.info); got != tc.want {
				t.Errorf("format() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMain lets TestFlagPrintsAndExits run this binary as a program with
// a --version flag.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("VERSION_TEST_ARGS"); ok {
		fs := flag.NewFlagSet("tool", flag.ExitOnError)
		AddFlag(fs)
		other := fs.Bool("other", false, "another flag")
		_ = fs.Parse(strings.Fields(args))
		if *other {
			_, _ = os.Stdout.WriteString("ran with --other\n")
		}
		_, _ = os.Stdout.WriteString("ran\n")
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func TestFlagPrintsAndExits(t *testing.T) {
	for _, tc := range []struct {
		args     string
		wantOut  string
		wantCode int
	}{
		{args: "--version", wantOut: String() + "\n", wantCode: 0},
		{args: "-version --other", wantOut: String() + "\n", wantCode: 0},
		{args: "--version=false --other", wantOut: "ran with --other\nran\n", wantCode: 3},
		{args: "--other", wantOut: "ran with --other\nran\n", wantCode: 3},
	} {
		t.Run(tc.args, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "VERSION_TEST_ARGS="+tc.args)
			out, err := cmd.Output()
			code := 0
			if exitErr, ok := err.(*exec.ExitError); ok {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || string(out) != tc.wantOut {
				t.Errorf("%s: exit %d, output %q; want exit %d, output %q", tc.args, code, out, tc.wantCode, tc.wantOut)
			}
		})
	}
}
