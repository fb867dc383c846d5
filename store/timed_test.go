package store_test

import (
	"context"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
)

// TestTimedCoversEveryMethod calls every method of Store through Timed and
// checks that each call was timed under its own name.
func TestTimedCoversEveryMethod(t *testing.T) {
	s, err := store.OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	seen := map[string]bool{}
	timed := store.Timed(s, func(op string, d time.Duration) {
		mu.Lock()
		seen[op] = true
		mu.Unlock()
	})
	iface := reflect.TypeOf((*store.Store)(nil)).Elem()
	v := reflect.ValueOf(timed)
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	for i := range iface.NumMethod() {
		m := iface.Method(i)
		if m.Name == "Close" {
			continue
		}
		fn := v.MethodByName(m.Name)
		args := make([]reflect.Value, fn.Type().NumIn())
		for j := range args {
			in := fn.Type().In(j)
			switch {
			case in == ctxType:
				args[j] = reflect.ValueOf(context.Background())
			case in.Kind() == reflect.Func:
				args[j] = reflect.MakeFunc(in, func([]reflect.Value) []reflect.Value {
					out := make([]reflect.Value, in.NumOut())
					for k := range out {
						out[k] = reflect.Zero(in.Out(k))
					}
					return out
				})
			default:
				args[j] = reflect.Zero(in)
			}
		}
		fn.Call(args)
		if !seen[m.Name] {
			t.Errorf("Timed does not time %s", m.Name)
		}
	}
}
