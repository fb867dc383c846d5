package phone

import (
	"errors"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/messages"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Number{
		"+1 415 555 2671":    {"+14155552671", "1"},
		" +1 (415) 555-2671": {"+14155552671", "1"},
		"+44 20 7946 0018":   {"+442079460018", "44"},
		"+49.30.901820":      {"+4930901820", "49"},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{
		"", "4155552671", "+1 415 555 267", "+1 415 555 26711", "+999 1234567",
		"+1 415 555 2671 ext 5", "+1 415 555 2671\x00", "++14155552671", "+1 415 555 2671;", "+١٤١٥٥٥٥٢٦٧١",
		"+1 415 555 2671 000000000000000000000000",
	} {
		if n, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrInvalid", bad, n, err)
		}
	}
}

func TestCountries(t *testing.T) {
	c, err := ParseCountries([]string{"+1", "44"})
	if err != nil {
		t.Fatal(err)
	}
	us, _ := Parse("+14155552671")
	de, _ := Parse("+4930901820")
	if !c.Allows(us) || c.Allows(de) || c.String() != "+1, +44" {
		t.Fatalf("allow-list %v: us %v de %v", c, c.Allows(us), c.Allows(de))
	}
	for _, bad := range []string{"+", "+0", "+1000", "uk", "+01", "+4 4"} {
		if _, err := ParseCountries([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMask(t *testing.T) {
	if m := Mask("+14155552642"); m != "+1 ••• ••• ••42" {
		t.Errorf("Mask = %q", m)
	}
	if m := Mask("garbage"); m != "your phone" {
		t.Errorf("Mask(garbage) = %q", m)
	}
	if m := MaskIn(messages.English(), "+14155552642"); m != "+1 ••• ••• ••42" {
		t.Errorf("MaskIn = %q", m)
	}
}

func TestInvalid(t *testing.T) {
	if got, want := Invalid(messages.English()), "That doesn't look like a phone number: "+ErrInvalid.Error()+"."; got != want {
		t.Errorf("Invalid = %q, want %q", got, want)
	}
}

func TestCallingCode(t *testing.T) {
	for in, want := range map[string]string{"+15555550100": "1", "+447700900123": "44"} {
		if got, err := CallingCode(in); err != nil || got != want {
			t.Errorf("CallingCode(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"15555550100", "+999123", "MG123"} {
		if _, err := CallingCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParse: whatever a user types, Parse does not panic, and a number it
// accepts is E.164 that parses back to itself, in its calling code.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"+1 415 555 2671", "+44 20 7946 0018", "+", "++1", "+1 (415) 555-2671", "+٤٤", "+1\x00415"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Parse(in)
		if err != nil {
			return
		}
		again, err := Parse(n.E164)
		if err != nil || again != n || !strings.HasPrefix(n.E164, "+"+n.CallingCode) {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", in, n, n.E164, again, err)
		}
		for _, r := range n.E164[1:] {
			if r < '0' || r > '9' {
				t.Fatalf("Parse(%q) = %q: not E.164", in, n.E164)
			}
		}
	})
}
