package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"
)

// Profiles of the end-to-end phase, from the first publish to the last
// delivery. --cpuprofile is this tool's own CPU (the publisher, the
// oracle, the receiver). --operator-cpuprofile is the operator's: it
// serves Go's pprof endpoints with --pprof-bind-address (off by default;
// with --start-local the tool turns it on, on a loopback port), and a CPU
// profile is asked for a fixed time, so the tool takes consecutive
// profiles of profileChunk each, into <prefix>-01.pprof, -02, ... until
// the phase ends (the last one runs to its end). `go tool pprof` merges
// the files it is given:
//
//	go tool pprof -top bin/manager <prefix>-*.pprof

const profileChunk = 5 * time.Second

// profiler is the running profiles of one phase.
type profiler struct {
	toolFile *os.File
	stop     chan struct{}
	done     chan []string // the operator's profile files
}

// startProfiles starts the profiles asked for; stopProfiles ends them.
func startProfiles(toolPath, operatorPprofURL, operatorPrefix string) (*profiler, error) {
	p := &profiler{}
	if toolPath != "" {
		f, err := os.Create(toolPath)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		p.toolFile = f
	}
	if operatorPrefix != "" {
		p.stop, p.done = make(chan struct{}), make(chan []string, 1)
		go func() { p.done <- operatorProfiles(operatorPprofURL, operatorPrefix, p.stop) }()
	}
	return p, nil
}

// operatorProfiles takes profiles of profileChunk until stop is closed.
func operatorProfiles(base, prefix string, stop <-chan struct{}) []string {
	var files []string
	client := &http.Client{Timeout: profileChunk + 30*time.Second}
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(profileChunk/time.Second))
	for i := 1; ; i++ {
		select {
		case <-stop:
			return files
		default:
		}
		name := fmt.Sprintf("%s-%02d.pprof", prefix, i)
		if err := fetchTo(client, url, name); err != nil {
			fmt.Printf("   operator profile: %v\n", err)
			return files
		}
		files = append(files, name)
	}
}

func fetchTo(client *http.Client, url, path string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stopProfiles ends the profiles and says where they are.
func (p *profiler) stopProfiles(manager string) {
	if p == nil {
		return
	}
	if p.toolFile != nil {
		pprof.StopCPUProfile()
		p.toolFile.Close()
		fmt.Printf("   tool CPU profile in %s (go tool pprof -top %s)\n", p.toolFile.Name(), p.toolFile.Name())
	}
	if p.stop != nil {
		close(p.stop)
		select {
		case files := <-p.done:
			if len(files) > 0 {
				fmt.Printf("   operator CPU profile in %d files of %s each, %s .. %s (go tool pprof -top %s %s-*.pprof merges them)\n",
					len(files), profileChunk, files[0], files[len(files)-1], manager, strings.TrimSuffix(files[0], "-01.pprof"))
			}
		case <-time.After(profileChunk + time.Minute):
			fmt.Println("   operator profile: no answer")
		}
	}
}

// pprofURL turns an address such as 127.0.0.1:6060 into a URL.
func pprofURL(addr string) string {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimSuffix(addr, "/")
	}
	return "http://" + addr
}
