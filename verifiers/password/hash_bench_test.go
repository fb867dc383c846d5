package password

import "testing"

// BenchmarkVerifyArgon2id is the deliberate cost of one password check:
// every sign-in pays it once, for known and unknown users alike. It
// measures the default parameters, OWASP's other minimum and the
// parameters Stepgate used before.
func BenchmarkVerifyArgon2id(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Params
	}{
		{"m=19MiB,t=2,p=1(default)", DefaultParams},
		{"m=46MiB,t=1,p=1", Params{Memory: 46 * 1024, Time: 1, Threads: 1}},
		{"m=64MiB,t=3,p=2(before)", Params{Memory: 64 * 1024, Time: 3, Threads: 2}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := HashWith(bc.p, "correct horse")
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if !Verify(h, "correct horse") {
					b.Fatal("no match")
				}
			}
		})
	}
}
