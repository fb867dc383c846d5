// Package messages holds the words users see, in every language Stepgate
// speaks. Each package with pages or messages keeps its catalogue beside
// its code (locales/<lang>/*.toml, embedded) and registers it under its
// area name from init; code refers to a message by its ID
// ("portal.login.heading"), never by its English words. A Set is what one
// portal speaks: the registered catalogues, the languages it offers and
// the administrator's overrides. A Localizer is one language of a Set,
// chosen per request from the lang cookie or Accept-Language.
package messages

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Default is the language every catalogue is complete in and the one
// spoken when nothing else matches.
const Default = "en"

// Languages are the languages Stepgate speaks, in the order the language
// switcher lists them, each with its name in its own language.
var Languages = []struct{ Tag, Name string }{
	{"en", "English"},
	{"de", "Deutsch"},
	{"fr", "Français"},
	{"es", "Español"},
	{"pt-BR", "Português (Brasil)"},
	{"it", "Italiano"},
	{"nl", "Nederlands"},
	{"pl", "Polski"},
	{"ja", "日本語"},
	{"zh-Hans", "简体中文"},
}

// Canonical reports whether tag is one of Languages (in any case:
// "PT-br"), and its spelling there ("pt-BR").
func Canonical(tag string) (string, bool) {
	for _, l := range Languages {
		if strings.EqualFold(l.Tag, tag) {
			return l.Tag, true
		}
	}
	return "", false
}

// Message is one message of a catalogue as loaded: its ID and its text
// (for plurals, each CLDR form's text).
type Message struct {
	ID    string
	Forms map[string]string
}

// area is one registered catalogue: its messages per language.
type area struct {
	name  string
	langs map[string][]*i18n.Message
}

// areas are registered from init, before anything reads them.
var (
	regMu sync.Mutex
	areas = map[string]*area{}
)

// Register adds the catalogue of an area (a package: "portal", "totp")
// from fsys, which holds a directory per language named by its tag
// ("en", "pt-BR") with any number of .toml files in it. Every ID in them
// is prefixed with the area's name and a dot. It panics on a broken
// catalogue, which is a build defect: a test of the registering package
// fails, never a user.
func Register(name string, fsys fs.FS) {
	a := &area{name: name, langs: map[string][]*i18n.Message{}}
	files, err := fs.Glob(fsys, "*/*.toml")
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("messages: area %s has no catalogues", name))
	}
	seen := map[string]string{}
	for _, f := range files {
		lang, ok := Canonical(path.Dir(f))
		if !ok {
			panic(fmt.Sprintf("messages: area %s: %s is not a language Stepgate speaks", name, path.Dir(f)))
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			panic(err)
		}
		ms, err := parse(b)
		if err != nil {
			panic(fmt.Sprintf("messages: area %s: %s: %v", name, f, err))
		}
		for _, m := range ms {
			m.ID = name + "." + m.ID
			if other, dup := seen[lang+" "+m.ID]; dup {
				panic(fmt.Sprintf("messages: %s is in both %s and %s", m.ID, other, f))
			}
			seen[lang+" "+m.ID] = f
			if err := checkTemplate(m); err != nil {
				panic(fmt.Sprintf("messages: %s: %s: %v", f, m.ID, err))
			}
		}
		a.langs[lang] = append(a.langs[lang], ms...)
	}
	if a.langs[Default] == nil {
		panic(fmt.Sprintf("messages: area %s has no %s catalogue", name, Default))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := areas[name]; dup {
		panic("messages: area " + name + " registered twice")
	}
	areas[name] = a
}

// RegisterLocales is Register of the directory "locales" of fsys: what a
// package embeds with //go:embed locales.
func RegisterLocales(name string, fsys fs.FS) {
	sub, err := fs.Sub(fsys, "locales")
	if err != nil {
		panic(err)
	}
	Register(name, sub)
}

// parse reads a TOML catalogue.
func parse(b []byte) ([]*i18n.Message, error) {
	return i18n.ParseMessageBytes(b, toml.Unmarshal)
}

// Catalogue returns every registered message of lang, by ID, for the
// completeness test and for checking overrides.
func Catalogue(lang string) map[string]Message {
	regMu.Lock()
	defer regMu.Unlock()
	out := map[string]Message{}
	for _, a := range areas {
		for _, m := range a.langs[lang] {
			out[m.ID] = toMessage(m)
		}
	}
	return out
}

// Areas returns the registered areas' names, sorted.
func Areas() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var out []string
	for n := range areas {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// placeholder is a name a message fills in: {{.Name}}.
var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

// Placeholders are the names m fills in ({{.Name}}) in any of its forms,
// sorted.
func (m Message) Placeholders() []string {
	var out []string
	for _, v := range m.Forms {
		for _, p := range placeholder.FindAllStringSubmatch(v, -1) {
			if !slices.Contains(out, p[1]) {
				out = append(out, p[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

func toMessage(m *i18n.Message) Message {
	forms := map[string]string{}
	for k, v := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
		if v != "" {
			forms[k] = v
		}
	}
	return Message{ID: m.ID, Forms: forms}
}

// Config is what an administrator chooses.
type Config struct {
	// Offer are the languages offered (tags of Languages); none: all.
	Offer []string
	// Fallback is spoken when the browser asks for none offered; "" is
	// English.
	Fallback string
	// Overrides is a directory of <lang>.toml files whose messages replace
	// Stepgate's (any ID of the catalogues; "" none).
	Overrides string
}

// Set is what one portal speaks.
type Set struct {
	offer    []string // tags, in Languages order
	fallback string
	byTag    map[string]*Localizer
	matcher  language.Matcher
	tags     []string // the matcher's tags, by index
}

// New builds the Set of cfg, with the overrides read and checked: an
// override of an ID no catalogue has, or of a language not offered, is
// refused, so a typo is found at start-up and not by a user.
func New(cfg Config) (*Set, error) {
	offer := map[string]bool{}
	for _, t := range cfg.Offer {
		c, ok := Canonical(t)
		if !ok {
			return nil, fmt.Errorf("language %q is not one Stepgate speaks (%s)", t, TagList())
		}
		offer[c] = true
	}
	s := &Set{byTag: map[string]*Localizer{}}
	for _, l := range Languages {
		if len(offer) == 0 || offer[l.Tag] {
			s.offer = append(s.offer, l.Tag)
		}
	}
	s.fallback = Default
	if cfg.Fallback != "" {
		c, ok := Canonical(cfg.Fallback)
		if !ok || (len(offer) > 0 && !offer[c]) {
			return nil, fmt.Errorf("default language %q is not one offered (%s)", cfg.Fallback, strings.Join(s.offer, ", "))
		}
		s.fallback = c
	}
	b := i18n.NewBundle(language.English)
	regMu.Lock()
	for _, a := range areas {
		for lang, ms := range a.langs {
			if err := b.AddMessages(language.MustParse(lang), ms...); err != nil {
				regMu.Unlock()
				return nil, err
			}
		}
	}
	regMu.Unlock()
	if cfg.Overrides != "" {
		if err := s.override(b, cfg.Overrides); err != nil {
			return nil, err
		}
	}
	var tags []language.Tag
	for _, t := range s.offer {
		s.byTag[t] = &Localizer{tag: t, l: i18n.NewLocalizer(b, t, Default)}
		tags = append(tags, language.MustParse(t))
		s.tags = append(s.tags, t)
	}
	s.matcher = language.NewMatcher(tags)
	return s, nil
}

// override reads the administrator's files in dir.
func (s *Set) override(b *i18n.Bundle, dir string) error {
	files, err := fs.Glob(os.DirFS(dir), "*.toml")
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("message overrides: %s has no <language>.toml files", dir)
	}
	english := Catalogue(Default)
	for _, f := range files {
		lang, ok := Canonical(strings.TrimSuffix(f, ".toml"))
		if !ok {
			return fmt.Errorf("message overrides: %s: %q is not a language Stepgate speaks (%s)", path.Join(dir, f), strings.TrimSuffix(f, ".toml"), TagList())
		}
		data, err := os.ReadFile(path.Join(dir, f))
		if err != nil {
			return fmt.Errorf("message overrides: %w", err)
		}
		ms, err := parse(data)
		if err != nil {
			return fmt.Errorf("message overrides: %s: %v", path.Join(dir, f), err)
		}
		for _, m := range ms {
			en, ok := english[m.ID]
			if !ok {
				return fmt.Errorf("message overrides: %s: no message is called %q", path.Join(dir, f), m.ID)
			}
			// A name the message is not given would show as "<no value>".
			for _, p := range toMessage(m).Placeholders() {
				if !slices.Contains(en.Placeholders(), p) {
					given := "nothing"
					if ps := en.Placeholders(); len(ps) > 0 {
						given = "{{." + strings.Join(ps, "}}, {{.") + "}}"
					}
					return fmt.Errorf("message overrides: %s: %s fills in {{.%s}}, which Stepgate does not give that message (it gives %s)", path.Join(dir, f), m.ID, p, given)
				}
			}
			if err := checkTemplate(m); err != nil {
				return fmt.Errorf("message overrides: %s: %s: %v", path.Join(dir, f), m.ID, err)
			}
		}
		if err := b.AddMessages(language.MustParse(lang), ms...); err != nil {
			return fmt.Errorf("message overrides: %s: %v", path.Join(dir, f), err)
		}
	}
	return nil
}

// checkTemplate parses each form of m as the template it will run as.
func checkTemplate(m *i18n.Message) error {
	for _, v := range toMessage(m).Forms {
		if _, err := template.New("").Parse(v); err != nil {
			return err
		}
	}
	return nil
}

// TagList is the tags of Languages, for error messages.
func TagList() string {
	var t []string
	for _, l := range Languages {
		t = append(t, l.Tag)
	}
	return strings.Join(t, ", ")
}

// maxAccept bounds the Accept-Language header that is parsed.
const maxAccept = 512

// For is the language of a request: the lang cookie's when it names one
// offered, else the best match of Accept-Language, else the fallback.
func (s *Set) For(cookie, accept string) *Localizer {
	if c, ok := Canonical(cookie); ok {
		if l := s.byTag[c]; l != nil {
			return l
		}
	}
	if accept != "" && len(accept) <= maxAccept {
		if tags, _, err := language.ParseAcceptLanguage(accept); err == nil && len(tags) > 0 {
			if _, i, conf := s.matcher.Match(tags...); conf != language.No {
				return s.byTag[s.tags[i]]
			}
		}
	}
	return s.byTag[s.fallback]
}

// Offered returns the languages offered, for the switcher.
func (s *Set) Offered() []string { return s.offer }

// Lang returns the Localizer of tag, or the fallback's.
func (s *Set) Lang(tag string) *Localizer {
	if c, ok := Canonical(tag); ok && s.byTag[c] != nil {
		return s.byTag[c]
	}
	return s.byTag[s.fallback]
}

// Localizer speaks one language.
type Localizer struct {
	tag   string
	l     *i18n.Localizer
	words sync.Map // prefix → map[string]string, for Words
}

// Words returns every message whose ID starts with prefix, by the rest of
// its ID: the words a page's script shows, handed to it as one JSON
// block. Messages with placeholders are given unfilled.
func (l *Localizer) Words(prefix string) map[string]string {
	if w, ok := l.words.Load(prefix); ok {
		return w.(map[string]string)
	}
	w := map[string]string{}
	for id := range Catalogue(Default) {
		if rest, ok := strings.CutPrefix(id, prefix); ok {
			w[rest] = l.T(id)
		}
	}
	l.words.Store(prefix, w)
	return w
}

// Tag is the language's BCP 47 tag ("pt-BR"), for <html lang>.
func (l *Localizer) Tag() string { return l.tag }

// Name is the language's name in itself.
func (l *Localizer) Name() string { return NameOf(l.tag) }

// Space is what goes between two sentences shown one after the other:
// a space, or nothing in Japanese and Chinese, which end a sentence with
// "。" and put no space after it.
func (l *Localizer) Space() string {
	if l.tag == "ja" || strings.HasPrefix(l.tag, "zh") {
		return ""
	}
	return " "
}

// NameOf is the name of language tag in itself.
func NameOf(tag string) string {
	for _, x := range Languages {
		if x.Tag == tag {
			return x.Name
		}
	}
	return tag
}

// T returns message id in l's language (English where the language
// lacks it). args are pairs of a name and a value, shown where the
// message says {{.Name}}; a "Count" (an int) also chooses the message's
// plural form. An ID no catalogue has comes back as itself.
func (l *Localizer) T(id string, args ...any) string {
	cfg := &i18n.LocalizeConfig{MessageID: id}
	if len(args) > 0 {
		data := make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			name, _ := args[i].(string)
			data[name] = args[i+1]
			if name == "Count" {
				cfg.PluralCount = args[i+1]
			}
		}
		cfg.TemplateData = data
	}
	s, err := l.l.Localize(cfg)
	if s == "" && err != nil {
		return id
	}
	return s
}

// HTML is T for a message that holds markup of its own (a link, a
// <strong>): the message is trusted (Stepgate's or the administrator's),
// each string argument is escaped.
func (l *Localizer) HTML(id string, args ...any) template.HTML {
	esc := make([]any, len(args))
	copy(esc, args)
	for i := 1; i < len(esc); i += 2 {
		if s, ok := esc[i].(string); ok {
			esc[i] = html.EscapeString(s)
		}
	}
	return template.HTML(l.T(id, esc...))
}

type ctxKey struct{}

// With returns ctx carrying l, the language of the request it serves.
func With(ctx context.Context, l *Localizer) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// Chosen returns the Localizer ctx carries, if it carries one.
func Chosen(ctx context.Context) (*Localizer, bool) {
	l, ok := ctx.Value(ctxKey{}).(*Localizer)
	return l, ok && l != nil
}

// From returns the Localizer ctx carries, or English.
func From(ctx context.Context) *Localizer {
	if l, ok := Chosen(ctx); ok {
		return l
	}
	return English()
}

var (
	allOnce sync.Once
	all     *Set
)

// All is the Set of every language Stepgate speaks, without overrides:
// for code that has no portal's Set (a test, a command, a method built
// without one).
func All() *Set {
	allOnce.Do(func() {
		s, err := New(Config{})
		if err != nil {
			panic(err)
		}
		all = s
	})
	return all
}

// English is All's English: for code that has no request.
func English() *Localizer { return All().byTag[Default] }
