// Command kstatus prints how Flux judges an object's health: the kstatus result
// (sigs.k8s.io/cli-utils/pkg/kstatus, the library Flux's health checks use) for each
// YAML or JSON object read from the files named, or from standard input.
//
// Output, one line per object: STATUS<TAB>MESSAGE. Exit 2 on unreadable input.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	inputs, err := read(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(2)
	}
	for _, doc := range inputs {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		// Through JSON into Unstructured, so integers stay int64 as the API machinery keeps them.
		js, err := yaml.YAMLToJSON(doc)
		var obj unstructured.Unstructured
		if err == nil {
			err = obj.UnmarshalJSON(js)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: not an object:", err)
			os.Exit(2)
		}
		res, err := status.Compute(&obj)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
		fmt.Printf("%s\t%s\n", res.Status, res.Message)
	}
}

// read returns the YAML documents of every file named, or of standard input when none is.
func read(paths []string) ([][]byte, error) {
	var all [][]byte
	if len(paths) == 0 {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, err
		}
		return split(b), nil
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		all = append(all, split(b)...)
	}
	return all, nil
}

func split(b []byte) [][]byte {
	return bytes.Split(b, []byte("\n---"))
}
