// Command ociimage writes an OCI image archive that `ctr images import` loads, without a container
// engine or a registry (neither is reachable here). Two ways to say what goes in:
//
//	ociimage dockerfile -f Dockerfile -from build:/src/target/release/passport=BIN -ref NAME -o OUT
//	ociimage binary -bin BIN -ref NAME -o OUT [-at PATH] [-link PATH]... [-user 65532:65532] [-arg ARG]...
//
// `dockerfile` follows the final stage of a Dockerfile instruction by instruction (COPY, USER,
// ENTRYPOINT, CMD, ENV, WORKDIR, LABEL), so the image the tests run is the one the Dockerfile
// describes; its base image, which cannot be pulled here, is stood in for by an equivalent built
// from this machine's Debian files (see bases). Any other instruction is refused rather than
// ignored. `binary` packs one static binary on an empty base (the sandbox, DNS, proxy and busybox
// images), with links to it under other names (a multi-call binary's applets).
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strings"
)

// entry is one thing in the image's single layer.
type entry struct {
	path    string // absolute, inside the image
	mode    int64
	uid     int
	gid     int
	dir     bool
	link    string // a symbolic link's target
	content []byte
}

// image is what the layer holds and how the container starts.
type image struct {
	entries    map[string]entry
	user       string
	entrypoint []string
	cmd        []string
	env        []string
	workdir    string
	labels     map[string]string
}

func newImage() *image {
	return &image{entries: map[string]entry{}, labels: map[string]string{}}
}

// add puts an entry in, with every parent folder it needs.
func (im *image) add(e entry) {
	for dir := path.Dir(e.path); dir != "/"; dir = path.Dir(dir) {
		if _, ok := im.entries[dir]; !ok {
			im.entries[dir] = entry{path: dir, mode: 0o755, dir: true}
		}
	}
	im.entries[e.path] = e
}

func (im *image) addHostFile(host, inside string, mode int64) error {
	data, err := os.ReadFile(host)
	if err != nil {
		return err
	}
	im.add(entry{path: inside, mode: mode, content: data})
	return nil
}

// bases stand in for base images that cannot be pulled here.
//
// gcr.io/distroless/cc-debian12:nonroot is Debian 12's glibc and libgcc, CA certificates, tzdata,
// /etc/passwd with root, nobody and nonroot (65532), and /tmp. The stand-in takes the same files
// from this machine (Debian 12 too) but only the shared libraries the copied binaries load (ldd)
// and no tzdata (the binary carries its own time-zone tables).
var bases = map[string]func(im *image, binaries []string) error{
	"gcr.io/distroless/cc-debian12:nonroot": distrolessCC,
}

func distrolessCC(im *image, binaries []string) error {
	im.add(entry{path: "/etc/passwd", mode: 0o644, content: []byte(
		"root:x:0:0:root:/root:/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")})
	im.add(entry{path: "/etc/group", mode: 0o644, content: []byte(
		"root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")})
	im.add(entry{path: "/tmp", mode: 0o1777, dir: true})
	im.add(entry{path: "/home/nonroot", mode: 0o700, uid: 65532, gid: 65532, dir: true})
	if err := im.addHostFile("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", 0o644); err != nil {
		return err
	}
	libs := map[string]bool{}
	for _, bin := range binaries {
		found, err := sharedLibraries(bin)
		if err != nil {
			return err
		}
		for _, l := range found {
			libs[l] = true
		}
	}
	for l := range libs {
		if err := im.addHostFile(l, l, 0o755); err != nil {
			return err
		}
	}
	return nil
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibraries lists the files the dynamic loader maps for bin, the loader itself included.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		// A static binary: ldd says so and exits 1.
		return nil, nil
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := lddLine.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs, nil
}

// instruction is one Dockerfile line: its keyword and the rest.
type instruction struct {
	keyword string
	rest    string
	line    int
}

func readDockerfile(file string) ([]instruction, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []instruction
	scanner := bufio.NewScanner(f)
	n, pending, start := 0, "", 0
	for scanner.Scan() {
		n++
		line := strings.TrimSpace(scanner.Text())
		if pending == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if pending == "" {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line = pending + line
		pending = ""
		keyword, rest, _ := strings.Cut(line, " ")
		out = append(out, instruction{strings.ToUpper(keyword), strings.TrimSpace(rest), start})
	}
	return out, scanner.Err()
}

// execForm reads ["a", "b"]; the shell form is refused (the image has no shell).
func execForm(in instruction) ([]string, error) {
	var args []string
	if err := json.Unmarshal([]byte(in.rest), &args); err != nil {
		return nil, fmt.Errorf("line %d: %s must be in exec form ([\"…\"]): %v", in.line, in.keyword, err)
	}
	return args, nil
}

// fromDockerfile follows the final stage. from maps "stage:path" to the file that stage built.
func fromDockerfile(file string, from map[string]string) (*image, error) {
	all, err := readDockerfile(file)
	if err != nil {
		return nil, err
	}
	last := -1
	for i, in := range all {
		if in.keyword == "FROM" {
			last = i
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("%s: no FROM", file)
	}
	base := strings.Fields(all[last].rest)[0]
	makeBase, ok := bases[base]
	if !ok {
		return nil, fmt.Errorf("%s line %d: no local stand-in for base image %s", file, all[last].line, base)
	}
	im := newImage()
	var copied []string
	for _, in := range all[last+1:] {
		switch in.keyword {
		case "COPY":
			fields := strings.Fields(in.rest)
			stage := ""
			if len(fields) > 0 && strings.HasPrefix(fields[0], "--from=") {
				stage = strings.TrimPrefix(fields[0], "--from=")
				fields = fields[1:]
			}
			if stage == "" || len(fields) != 2 {
				return nil, fmt.Errorf("%s line %d: only COPY --from=STAGE SRC DEST is supported", file, in.line)
			}
			host, ok := from[stage+":"+fields[0]]
			if !ok {
				return nil, fmt.Errorf("%s line %d: say where %s of stage %s is (-from %s:%s=FILE)", file, in.line, fields[0], stage, stage, fields[0])
			}
			if err := im.addHostFile(host, fields[1], 0o755); err != nil {
				return nil, err
			}
			copied = append(copied, host)
		case "USER":
			im.user = in.rest
		case "ENTRYPOINT":
			if im.entrypoint, err = execForm(in); err != nil {
				return nil, err
			}
		case "CMD":
			if im.cmd, err = execForm(in); err != nil {
				return nil, err
			}
		case "ENV":
			k, v, ok := strings.Cut(in.rest, "=")
			if !ok {
				return nil, fmt.Errorf("%s line %d: ENV KEY=VALUE", file, in.line)
			}
			im.env = append(im.env, k+"="+strings.Trim(v, `"`))
		case "WORKDIR":
			im.workdir = in.rest
		case "LABEL":
			k, v, ok := strings.Cut(in.rest, "=")
			if !ok {
				return nil, fmt.Errorf("%s line %d: LABEL KEY=VALUE", file, in.line)
			}
			im.labels[k] = strings.Trim(v, `"`)
		default:
			return nil, fmt.Errorf("%s line %d: %s in the final stage is not supported here", file, in.line, in.keyword)
		}
	}
	if err := makeBase(im, copied); err != nil {
		return nil, err
	}
	return im, nil
}

// layer is the image's one layer, as an uncompressed tar with fixed times and owners.
func layer(im *image) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(im.entries))
	for p := range im.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := im.entries[p]
		h := &tar.Header{Name: strings.TrimPrefix(e.path, "/"), Mode: e.mode, Uid: e.uid, Gid: e.gid, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.content))
		}
		_ = tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write(e.content)
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    map[string]string `json:"platform,omitempty"`
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// archive writes the OCI layout (oci-layout, index.json, blobs) as one tar.
func archive(im *image, ref, out string) error {
	layerTar := layer(im)
	config := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config": map[string]any{
			"User":       im.user,
			"Entrypoint": im.entrypoint,
			"Cmd":        im.cmd,
			"Env":        append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, im.env...),
			"WorkingDir": im.workdir,
			"Labels":     im.labels,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layerTar)}},
	}
	configJSON, _ := json.Marshal(config)
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest(configJSON), Size: len(configJSON)},
		"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest(layerTar), Size: len(layerTar)}},
	}
	manifestJSON, _ := json.Marshal(manifest)
	tag := ref[strings.LastIndex(ref, ":")+1:]
	index := map[string]any{
		"schemaVersion": 2,
		"manifests": []descriptor{{
			MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest(manifestJSON), Size: len(manifestJSON),
			Annotations: map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
			Platform:    map[string]string{"architecture": "amd64", "os": "linux"},
		}},
	}
	indexJSON, _ := json.Marshal(index)

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	write := func(name string, data []byte) {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(data)
	}
	_ = tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, Typeflag: tar.TypeDir})
	_ = tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, Typeflag: tar.TypeDir})
	write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	write("index.json", indexJSON)
	for _, blob := range [][]byte{layerTar, configJSON, manifestJSON} {
		write("blobs/sha256/"+strings.TrimPrefix(digest(blob), "sha256:"), blob)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ociimage dockerfile|binary [flags]")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	ref := flags.String("ref", "", "the image's name, e.g. ghcr.io/release-passport/passport:0.1.0")
	out := flags.String("o", "", "the archive to write")
	dockerfile := flags.String("f", "Dockerfile", "dockerfile: the Dockerfile to follow")
	var from, args, links list
	flags.Var(&from, "from", "dockerfile: STAGE:PATH=FILE, what a build stage produced")
	bin := flags.String("bin", "", "binary: the static binary")
	at := flags.String("at", "", "binary: where it goes in the image (default /<its name>)")
	flags.Var(&links, "link", "binary: another path that links to it")
	user := flags.String("user", "65532:65532", "binary: the user it runs as")
	flags.Var(&args, "arg", "binary: an argument the entrypoint always gets")
	_ = flags.Parse(os.Args[2:])

	var im *image
	var err error
	switch os.Args[1] {
	case "dockerfile":
		stages := map[string]string{}
		for _, f := range from {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				err = fmt.Errorf("-from %q: want STAGE:PATH=FILE", f)
				break
			}
			stages[k] = v
		}
		if err == nil {
			im, err = fromDockerfile(*dockerfile, stages)
		}
	case "binary":
		im = newImage()
		inside := *at
		if inside == "" {
			inside = "/" + path.Base(*bin)
		}
		err = im.addHostFile(*bin, inside, 0o755)
		for _, l := range links {
			im.add(entry{path: l, mode: 0o777, link: inside})
		}
		im.user, im.entrypoint, im.cmd = *user, []string{inside}, args
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err == nil && (*ref == "" || *out == "") {
		err = fmt.Errorf("-ref and -o are required")
	}
	if err == nil {
		err = archive(im, *ref, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}
