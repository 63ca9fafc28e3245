// Command argocd-health runs Argo CD resource health scripts the way Argo CD does: in
// gopher-lua (the interpreter Argo CD embeds, Lua 5.1 semantics) with only the base, table,
// string, math and coroutine libraries, the object as the global `obj`, and the returned
// table read as {status, message}.
//
// Usage:
//
//	argocd-health DIR...          each DIR holds health.lua, health_test.yaml and its inputs, in
//	                              the layout of Argo CD's resource_customizations; for every case
//	                              it prints PASS|FAIL<TAB>DIR<TAB>INPUT<TAB>STATUS<TAB>MESSAGE and
//	                              exits 1 if any failed
//	argocd-health --script FILE   reads JSON objects, one per line, from standard input and prints
//	                              STATUS<TAB>MESSAGE for each
//
// Exit 2 when a script or an input cannot be read or run.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type testFile struct {
	Tests []struct {
		HealthStatus health `json:"healthStatus"`
		InputPath    string `json:"inputPath"`
	} `json:"tests"`
}

// The statuses Argo CD accepts from a health script.
var known = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "--script" {
		if err := runScript(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "argocd-health:", err)
			os.Exit(2)
		}
		return
	}
	failed := false
	for _, dir := range os.Args[1:] {
		ok, err := runDir(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "argocd-health: %s: %v\n", dir, err)
			os.Exit(2)
		}
		failed = failed || !ok
	}
	if failed {
		os.Exit(1)
	}
}

func runScript(path string) error {
	script, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	for lines.Scan() {
		var obj map[string]interface{}
		if err := json.Unmarshal(lines.Bytes(), &obj); err != nil {
			return fmt.Errorf("not a JSON object: %w", err)
		}
		got, err := evaluate(string(script), obj)
		if err != nil {
			return err
		}
		fmt.Printf("%s\t%s\n", got.Status, got.Message)
	}
	return lines.Err()
}

func runDir(dir string) (bool, error) {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return false, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		return false, err
	}
	var tests testFile
	if err := yaml.UnmarshalStrict(raw, &tests); err != nil {
		return false, fmt.Errorf("health_test.yaml: %w", err)
	}
	if len(tests.Tests) == 0 {
		return false, fmt.Errorf("health_test.yaml has no tests")
	}
	allOK := true
	for _, tc := range tests.Tests {
		input, err := os.ReadFile(filepath.Join(dir, tc.InputPath))
		if err != nil {
			return false, err
		}
		var obj map[string]interface{}
		if err := yaml.Unmarshal(input, &obj); err != nil {
			return false, fmt.Errorf("%s: %w", tc.InputPath, err)
		}
		got, err := evaluate(string(script), obj)
		verdict := "PASS"
		if err != nil {
			got = health{Status: "ERROR", Message: err.Error()}
		}
		if got != tc.HealthStatus {
			verdict = "FAIL"
			allOK = false
		}
		fmt.Printf("%s\t%s\t%s\t%s\t%s\n", verdict, dir, tc.InputPath, got.Status, got.Message)
	}
	return allOK, nil
}

// evaluate runs one health script over one object, as Argo CD's lua VM does.
func evaluate(script string, obj map[string]interface{}) (health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return health{}, err
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	var out health
	encoded, err := json.Marshal(fromLua(table))
	if err != nil {
		return health{}, err
	}
	if err := json.Unmarshal(encoded, &out); err != nil {
		return health{}, fmt.Errorf("the returned table is not {status, message}: %w", err)
	}
	if !known[out.Status] {
		return health{}, fmt.Errorf("status %q is not one Argo CD knows", out.Status)
	}
	return out, nil
}

// toLua converts a decoded JSON value to Lua: objects and arrays become tables (arrays
// 1-based), nulls are left out, as in Argo CD.
func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case map[string]interface{}:
		t := l.NewTable()
		for k, item := range x {
			if item != nil {
				t.RawSetString(k, toLua(l, item))
			}
		}
		return t
	case []interface{}:
		t := l.NewTable()
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	default:
		return lua.LNil
	}
}

func fromLua(v lua.LValue) interface{} {
	switch x := v.(type) {
	case *lua.LTable:
		out := map[string]interface{}{}
		x.ForEach(func(k, item lua.LValue) { out[k.String()] = fromLua(item) })
		return out
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return float64(x)
	case lua.LBool:
		return bool(x)
	default:
		return nil
	}
}
