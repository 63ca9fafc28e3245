// Command gitserver serves the Git repositories under a folder over smart HTTP on loopback, the
// protocol Flux's source-controller and Argo CD's repo-server clone with, by running Debian git's
// own `git http-backend` as a CGI program for each request (net/http/cgi does the CGI part).
//
//	gitserver -root DIR [-addr 127.0.0.1:0]
//
// It prints "listening on http://ADDR" once it accepts connections (port 0: the kernel picks one,
// read back from that line) and serves until it is killed. Read-only: pushes are refused.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	root := flag.String("root", "", "the folder that holds the bare repositories (NAME.git)")
	addr := flag.String("addr", "127.0.0.1:0", "the address to listen on")
	flag.Parse()
	if *root == "" {
		log.Fatal("gitserver: -root is required")
	}
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		log.Fatalf("gitserver: git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + *root,
			// Every repository under the root is served without a git-daemon-export-ok file.
			"GIT_HTTP_EXPORT_ALL=1",
		},
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("gitserver: listen %s: %v", *addr, err)
	}
	fmt.Printf("listening on http://%s\n", listener.Addr())
	os.Stdout.Sync()
	log.Fatal(http.Serve(listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			http.Error(w, "read-only", http.StatusForbidden)
			return
		}
		backend.ServeHTTP(w, r)
	})))
}
