package password

import "testing"

// BenchmarkVerifyArgon2id is the deliberate cost of one password check
// (argon2id, 64 MiB, 3 passes, 2 lanes): every sign-in pays it once, for
// known and unknown users alike.
func BenchmarkVerifyArgon2id(b *testing.B) {
	h, err := Hash("correct horse")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !Verify(h, "correct horse") {
			b.Fatal("no match")
		}
	}
}
