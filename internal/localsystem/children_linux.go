package localsystem

import (
	"os"
	"strconv"
	"strings"
)

// childPids returns the live (not zombie) children of the process parent,
// by command name, from /proc.
func childPids(parent int) (map[string]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	pids := map[string]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := procStat(pid)
		if ok && st.ppid == parent && st.state != "Z" {
			pids[st.comm] = pid
		}
	}
	return pids, nil
}

type stat struct {
	comm, state string
	ppid        int
}

// procStat reads /proc/<pid>/stat: "pid (comm) state ppid ...", where
// comm may hold spaces and parentheses.
func procStat(pid int) (stat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return stat{}, false
	}
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 2 {
		return stat{}, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return stat{}, false
	}
	return stat{comm: s[open+1 : closing], state: fields[0], ppid: ppid}, true
}

// alive says whether the process pid exists and is not a zombie (a
// killed process whose new parent has not reaped it yet).
func alive(pid int) bool {
	st, ok := procStat(pid)
	return ok && st.state != "Z"
}
