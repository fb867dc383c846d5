package attack

import (
	"os"
	"time"
)

func nowTime() time.Time { return time.Now() }

func readFile(t interface{ Fatal(...any) }, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFileOK(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
