// Package version says which build of the operator or a tool is running,
// from the build information the Go toolchain embeds: the module version
// (for a tagged `go install`) or the VCS revision, its time and whether
// the tree was modified (for a build in a clone).
package version

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

// String is the one-line version of this binary: its main module's
// version, which a build in a clone stamps from the VCS
// (v0.0.0-<commit time>-<revision>, +dirty when modified), or else the VCS
// revision and commit time when the build recorded them, and the Go
// version, for example
//
//	github.com/leadvibe/milestone-triggers-operator v0.0.0-20261201114323-1f17ae57797e+dirty go1.26.0
//	github.com/leadvibe/milestone-triggers-operator (devel) revision 1f17ae57797e (modified) 2026-12-01T11:43:23Z go1.26.0
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information) " + runtime.Version()
	}
	return format(info)
}

func format(info *debug.BuildInfo) string {
	s := info.Main.Path
	if s == "" {
		s = info.Path
	}
	if v := info.Main.Version; v != "" {
		s += " " + v
		if v != "(devel)" {
			// A module version (a tag, or a pseudo-version from the
			// VCS stamp, with +dirty for a modified tree) says it all.
			return s + " " + info.GoVersion
		}
	}
	var revision, at string
	modified := false
	for _, setting := range info.Settings {
		switch setting.Key {
		case "vcs.revision":
			revision = setting.Value
		case "vcs.time":
			at = setting.Value
		case "vcs.modified":
			modified = setting.Value == "true"
		}
	}
	if revision != "" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		s += " revision " + revision
		if modified {
			s += " (modified)"
		}
	}
	if at != "" {
		s += " " + at
	}
	return s + " " + info.GoVersion
}

// AddFlag adds --version to fs: given, it prints String() to standard
// output and exits with status 0 during fs.Parse.
func AddFlag(fs *flag.FlagSet) {
	fs.Var(versionFlag{}, "version", "Print the version and exit.")
}

type versionFlag struct{}

func (versionFlag) IsBoolFlag() bool { return true }
func (versionFlag) String() string   { return "false" }

func (versionFlag) Set(v string) error {
	if on, err := strconv.ParseBool(v); err != nil || !on {
		return err
	}
	fmt.Println(String())
	os.Exit(0)
	return nil
}
