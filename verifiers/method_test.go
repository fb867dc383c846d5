package verifiers

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/stepgate/stepgate/messages"
)

// The waittest area: a wait said in English and in Polish, whose plural
// has more forms than one and other.
func init() {
	messages.Register("waittest", fstest.MapFS{
		"en/wait.toml": {Data: []byte(`
seconds = { one = "a second", other = "{{.Count}} seconds" }
minutes = { one = "a minute", other = "{{.Count}} minutes" }
hour = "an hour"
hours = { one = "one hour", other = "{{.Count}} hours" }
`)},
		"pl/wait.toml": {Data: []byte(`
seconds = { one = "sekundę", few = "{{.Count}} sekundy", many = "{{.Count}} sekund", other = "{{.Count}} sekundy" }
minutes = { one = "minutę", few = "{{.Count}} minuty", many = "{{.Count}} minut", other = "{{.Count}} minuty" }
hour = "godzinę"
`)},
	})
}

func TestWaitWordsSay(t *testing.T) {
	set, err := messages.New(messages.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := WaitWords{Seconds: "waittest.seconds", Minutes: "waittest.minutes", Hour: "waittest.hour"}
	en, pl := set.Lang("en"), set.Lang("pl")
	for d, want := range map[time.Duration][2]string{
		-time.Second: {"a second", "sekundę"}, 0: {"a second", "sekundę"}, 300 * time.Millisecond: {"a second", "sekundę"},
		time.Second: {"a second", "sekundę"}, 1001 * time.Millisecond: {"2 seconds", "2 sekundy"},
		25 * time.Second: {"25 seconds", "25 sekund"}, 59 * time.Second: {"59 seconds", "59 sekund"},
		59*time.Second + 1: {"a minute", "minutę"}, time.Minute: {"a minute", "minutę"},
		61 * time.Second: {"2 minutes", "2 minuty"}, 15 * time.Minute: {"15 minutes", "15 minut"},
		59 * time.Minute: {"59 minutes", "59 minut"}, 59*time.Minute + 1: {"an hour", "godzinę"}, 2 * time.Hour: {"an hour", "godzinę"},
	} {
		if got := w.Say(en, d); got != want[0] {
			t.Errorf("English %v: %q, want %q", d, got, want[0])
		}
		if got := w.Say(pl, d); got != want[1] {
			t.Errorf("Polish %v: %q, want %q", d, got, want[1])
		}
	}
	// A plural message for the hour says its "one" form.
	w.Hour = "waittest.hours"
	if got := w.Say(en, 3*time.Hour); got != "one hour" {
		t.Errorf("a plural hour: %q", got)
	}
}
