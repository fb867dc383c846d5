package caddymodule_test

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stepgate/stepgate/portal"
)

// The part of Traefik v3's dynamic configuration README's set-up uses,
// transcribed from github.com/traefik/traefik v3.7.9
// (pkg/config/dynamic/http_config.go and middlewares.go). The yaml names
// are the documented spellings; Traefik's decoder
// (github.com/traefik/paerser) matches a file's names in any case, this
// test only as documented. Labels are matched as paerser does: the Go
// field's name in any case, or the slice-as-struct name in "label".
// Fields README does not use are left out, so this schema refuses them
// although Traefik would not: transcribe them when README needs them.
type traefikDynamic struct {
	HTTP *traefikHTTP `yaml:"http"`
}

type traefikHTTP struct {
	Routers     map[string]*traefikRouter     `yaml:"routers"`
	Middlewares map[string]*traefikMiddleware `yaml:"middlewares"`
	Services    map[string]*traefikService    `yaml:"services"`
}

type traefikRouter struct {
	EntryPoints []string          `yaml:"entryPoints"`
	Middlewares []string          `yaml:"middlewares"`
	Service     string            `yaml:"service"`
	Rule        string            `yaml:"rule"`
	RuleSyntax  string            `yaml:"ruleSyntax"`
	Priority    int               `yaml:"priority"`
	TLS         *traefikRouterTLS `yaml:"tls"`
}

type traefikRouterTLS struct {
	Options      string `yaml:"options"`
	CertResolver string `yaml:"certResolver"`
}

// traefikMiddleware holds one kind of middleware; Traefik refuses a
// middleware with none or more than one.
type traefikMiddleware struct {
	Headers     *traefikHeaders     `yaml:"headers"`
	ForwardAuth *traefikForwardAuth `yaml:"forwardAuth"`
	Chain       *traefikChain       `yaml:"chain"`
}

type traefikHeaders struct {
	CustomRequestHeaders  map[string]string `yaml:"customRequestHeaders"`
	CustomResponseHeaders map[string]string `yaml:"customResponseHeaders"`
}

type traefikChain struct {
	Middlewares []string `yaml:"middlewares"`
}

// traefikForwardAuth is every field of Traefik's ForwardAuth.
type traefikForwardAuth struct {
	Address                  string            `yaml:"address"`
	TLS                      *traefikClientTLS `yaml:"tls"`
	TrustForwardHeader       *bool             `yaml:"trustForwardHeader"`
	AuthResponseHeaders      []string          `yaml:"authResponseHeaders"`
	AuthResponseHeadersRegex string            `yaml:"authResponseHeadersRegex"`
	AuthRequestHeaders       []string          `yaml:"authRequestHeaders"`
	MaxResponseBodySize      *int64            `yaml:"maxResponseBodySize"`
	AddAuthCookiesToResponse []string          `yaml:"addAuthCookiesToResponse"`
	HeaderField              string            `yaml:"headerField"`
	ForwardBody              bool              `yaml:"forwardBody"`
	MaxBodySize              *int64            `yaml:"maxBodySize"`
	PreserveLocationHeader   bool              `yaml:"preserveLocationHeader"`
	PreserveRequestMethod    bool              `yaml:"preserveRequestMethod"`
	AuthSigninURL            string            `yaml:"authSigninURL"`
}

type traefikClientTLS struct {
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify"`
}

type traefikService struct {
	LoadBalancer *traefikLoadBalancer `yaml:"loadBalancer"`
}

type traefikLoadBalancer struct {
	// Servers is "server" in labels: one server, the container.
	Servers        []traefikServer `yaml:"servers" label:"server"`
	PassHostHeader *bool           `yaml:"passHostHeader"`
}

type traefikServer struct {
	URL string `yaml:"url"`
	// Port and Scheme are for labels only: the Docker provider makes the
	// URL from them and the container's address.
	Port   string `yaml:"-"`
	Scheme string `yaml:"-"`
}

// The values README shows in place of the testdata's {{...}}.
var traefikReadmeValues = []string{"{{host}}", "app.example.com", "{{stepgate}}", "stepgate:9091", "{{app}}", "app:3000"}

// readTraefikFile reads a testdata file with values in place of its
// {{...}}.
func readTraefikFile(t *testing.T, path string, values ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(values...).Replace(string(b)))
}

// traefikDecodeStrict decodes YAML into v, refusing any key v has no field for,
// as a schema check.
func traefikDecodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// traefikFileConfig decodes and checks testdata/traefik-dynamic.yaml with
// values in place of its {{...}}.
func traefikFileConfig(t *testing.T, values ...string) *traefikDynamic {
	t.Helper()
	var cfg traefikDynamic
	if err := traefikDecodeStrict(readTraefikFile(t, "testdata/traefik-dynamic.yaml", values...), &cfg); err != nil {
		t.Fatalf("traefik-dynamic.yaml against Traefik's schema: %v", err)
	}
	if err := checkTraefikConfig(&cfg); err != nil {
		t.Fatalf("traefik-dynamic.yaml: %v", err)
	}
	return &cfg
}

// checkTraefikConfig checks what Traefik checks when it builds routers
// from a configuration: each rule parses, each name refers to something
// defined, each middleware is one kind. It also checks the forwardAuth
// middlewares ask Stepgate's endpoint.
func checkTraefikConfig(cfg *traefikDynamic) error {
	if cfg.HTTP == nil {
		return errors.New("no http section")
	}
	h := cfg.HTTP
	for name, r := range h.Routers {
		if _, err := parseTraefikRule(r.Rule); err != nil {
			return fmt.Errorf("router %s: %w", name, err)
		}
		if r.RuleSyntax != "" && r.RuleSyntax != "v3" {
			return fmt.Errorf("router %s: rule syntax %q", name, r.RuleSyntax)
		}
		if _, ok := h.Services[traefikLocalName(r.Service)]; !ok {
			return fmt.Errorf("router %s: no service %q", name, r.Service)
		}
		for _, m := range r.Middlewares {
			if _, ok := h.Middlewares[traefikLocalName(m)]; !ok {
				return fmt.Errorf("router %s: no middleware %q", name, m)
			}
		}
	}
	for name, m := range h.Middlewares {
		kinds := 0
		for _, set := range []bool{m.Headers != nil, m.ForwardAuth != nil, m.Chain != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return fmt.Errorf("middleware %s: %d kinds of middleware, want one", name, kinds)
		}
		if fa := m.ForwardAuth; fa != nil {
			u, err := url.Parse(fa.Address)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("middleware %s: address %q is not an http(s) URL", name, fa.Address)
			}
			if u.Path != portal.ForwardAuthPath {
				return fmt.Errorf("middleware %s: address %q is not Stepgate's forward-auth endpoint", name, fa.Address)
			}
			if fa.AuthResponseHeadersRegex != "" {
				if _, err := regexp.Compile(fa.AuthResponseHeadersRegex); err != nil {
					return fmt.Errorf("middleware %s: %w", name, err)
				}
			}
		}
	}
	for name, s := range h.Services {
		if s.LoadBalancer == nil || len(s.LoadBalancer.Servers) == 0 {
			return fmt.Errorf("service %s: no servers", name)
		}
		for _, srv := range s.LoadBalancer.Servers {
			if srv.URL != "" {
				if u, err := url.Parse(srv.URL); err != nil || u.Host == "" {
					return fmt.Errorf("service %s: url %q", name, srv.URL)
				}
			}
		}
	}
	return nil
}

// traefikLocalName is a router's, middleware's or service's name without the
// provider Traefik lets it name ("stepgate@docker").
func traefikLocalName(name string) string {
	n, _, _ := strings.Cut(name, "@")
	return n
}

// traefikMatcher is a compiled router rule.
type traefikMatcher func(host, traefikRoutingPath string) bool

// parseTraefikRule compiles a v3 router rule the way Traefik's rule parser
// (github.com/vulcand/predicate, which reads Go expressions) does: matcher
// calls with string arguments, joined with &&, || and !, grouped with
// parentheses. Only the matchers README uses are known here.
func parseTraefikRule(rule string) (traefikMatcher, error) {
	e, err := parser.ParseExpr(rule)
	if err != nil {
		return nil, fmt.Errorf("rule %q: %w", rule, err)
	}
	return compileTraefikRule(e)
}

func compileTraefikRule(e ast.Expr) (traefikMatcher, error) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return compileTraefikRule(e.X)
	case *ast.UnaryExpr:
		if e.Op != token.NOT {
			return nil, fmt.Errorf("operator %s", e.Op)
		}
		m, err := compileTraefikRule(e.X)
		if err != nil {
			return nil, err
		}
		return func(h, p string) bool { return !m(h, p) }, nil
	case *ast.BinaryExpr:
		l, err := compileTraefikRule(e.X)
		if err != nil {
			return nil, err
		}
		r, err := compileTraefikRule(e.Y)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case token.LAND:
			return func(h, p string) bool { return l(h, p) && r(h, p) }, nil
		case token.LOR:
			return func(h, p string) bool { return l(h, p) || r(h, p) }, nil
		}
		return nil, fmt.Errorf("operator %s", e.Op)
	case *ast.CallExpr:
		return compileTraefikMatcher(e)
	}
	return nil, fmt.Errorf("unexpected %T in rule", e)
}

// compileTraefikMatcher compiles one matcher call. Traefik knows a matcher
// by its name as written, lower case, upper case or title case; each of
// these takes one argument in v3.
func compileTraefikMatcher(call *ast.CallExpr) (traefikMatcher, error) {
	id, ok := call.Fun.(*ast.Ident)
	if !ok {
		return nil, errors.New("a matcher must be a name")
	}
	var name string
	for _, known := range []string{"Host", "Path", "PathPrefix", "PathRegexp"} {
		lower := strings.ToLower(known)
		if id.Name == known || id.Name == lower || id.Name == strings.ToUpper(known) || id.Name == strings.ToUpper(lower[:1])+lower[1:] {
			name = known
		}
	}
	if name == "" {
		return nil, fmt.Errorf("matcher %s is not one this test knows", id.Name)
	}
	if len(call.Args) != 1 {
		return nil, fmt.Errorf("%s takes one argument, got %d", name, len(call.Args))
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return nil, fmt.Errorf("%s: the argument must be a string", name)
	}
	arg, err := strconv.Unquote(lit.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch name {
	case "Host":
		// pkg/muxer/http/matcher.go: case-insensitive, ASCII, a trailing
		// dot on either side ignored. (Wildcards are not reproduced.)
		for i := 0; i < len(arg); i++ {
			if arg[i] >= 0x80 {
				return nil, fmt.Errorf("Host(%q): not ASCII", arg)
			}
		}
		want := strings.TrimSuffix(strings.ToLower(arg), ".")
		return func(h, _ string) bool { return strings.TrimSuffix(h, ".") == want }, nil
	case "Path", "PathPrefix":
		if !strings.HasPrefix(arg, "/") {
			return nil, fmt.Errorf("%s(%q): does not start with /", name, arg)
		}
		if name == "Path" {
			return func(_, p string) bool { return p == arg }, nil
		}
		return func(_, p string) bool { return strings.HasPrefix(p, arg) }, nil
	}
	re, err := regexp.Compile(arg)
	if err != nil {
		return nil, fmt.Errorf("PathRegexp(%q): %w", arg, err)
	}
	return func(_, p string) bool { return re.MatchString(p) }, nil
}

// traefikLabels reads a docker-compose file's labels: one map per
// service. Only labels are known in the file.
func traefikLabels(b []byte) (map[string]map[string]string, error) {
	var compose struct {
		Services map[string]struct {
			Labels []string `yaml:"labels"`
		} `yaml:"services"`
	}
	if err := traefikDecodeStrict(b, &compose); err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for svc, s := range compose.Services {
		out[svc] = map[string]string{}
		for _, l := range s.Labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				return nil, fmt.Errorf("service %s: label %q has no =", svc, l)
			}
			if _, dup := out[svc][k]; dup {
				return nil, fmt.Errorf("service %s: label %s twice", svc, k)
			}
			out[svc][k] = v
		}
	}
	return out, nil
}

// decodeTraefikLabels builds the dynamic configuration Traefik's Docker
// provider reads from containers' labels, as its label decoder
// (github.com/traefik/paerser) does: "traefik." then the path of names,
// each field's name in any case, map keys (router, middleware, header
// names) as written, lists comma-separated, "true" for a section with no
// options (tls=true). Docker's own labels (traefik.enable,
// traefik.docker.*) are checked and left out. Every label must name a
// known field and its value must parse.
func decodeTraefikLabels(containers map[string]map[string]string) (*traefikDynamic, error) {
	cfg := new(traefikDynamic)
	for svc, labels := range containers {
		for key, value := range labels {
			parts := strings.Split(key, ".")
			if len(parts) < 2 || parts[0] != "traefik" {
				return nil, fmt.Errorf("service %s: label %s is not Traefik's", svc, key)
			}
			switch strings.ToLower(parts[1]) {
			case "enable":
				if _, err := strconv.ParseBool(value); err != nil || len(parts) != 2 {
					return nil, fmt.Errorf("service %s: %s=%s", svc, key, value)
				}
				continue
			case "docker":
				if len(parts) != 3 || !slices.Contains([]string{"network", "allownonrunning"}, strings.ToLower(parts[2])) {
					return nil, fmt.Errorf("service %s: unknown label %s", svc, key)
				}
				continue
			}
			if err := setTraefikLabel(reflect.ValueOf(cfg).Elem(), parts[1:], value); err != nil {
				return nil, fmt.Errorf("service %s: label %s: %w", svc, key, err)
			}
		}
	}
	return cfg, nil
}

// setTraefikLabel sets the field at path in v to value.
func setTraefikLabel(v reflect.Value, path []string, value string) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		if len(path) == 0 && v.Elem().Kind() == reflect.Struct {
			// A section with no options of its own: tls=true; any other
			// value leaves it out, as paerser's allowEmpty does.
			if !strings.EqualFold(value, "true") {
				v.Set(reflect.Zero(v.Type()))
			}
			return nil
		}
		return setTraefikLabel(v.Elem(), path, value)
	case reflect.Struct:
		if len(path) == 0 {
			return errors.New("a section, not a value")
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name := f.Tag.Get("label")
			if name == "" {
				name = f.Name
			}
			if !strings.EqualFold(name, path[0]) {
				continue
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				// servers as "server": the one server of a container.
				if v.Field(i).Len() == 0 {
					v.Field(i).Set(reflect.MakeSlice(f.Type, 1, 1))
				}
				return setTraefikLabel(v.Field(i).Index(0), path[1:], value)
			}
			return setTraefikLabel(v.Field(i), path[1:], value)
		}
		return fmt.Errorf("no field %q in %s", path[0], v.Type().Name())
	case reflect.Map:
		if len(path) == 0 {
			return errors.New("a section of names, not a value")
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		key := reflect.ValueOf(path[0])
		if v.Type().Elem().Kind() == reflect.String {
			if len(path) != 1 {
				return fmt.Errorf("%s: a value, not a section", path[0])
			}
			v.SetMapIndex(key, reflect.ValueOf(value))
			return nil
		}
		elem := v.MapIndex(key)
		if !elem.IsValid() {
			elem = reflect.New(v.Type().Elem().Elem())
			v.SetMapIndex(key, elem)
		}
		return setTraefikLabel(elem, path[1:], value)
	}
	if len(path) != 0 {
		return fmt.Errorf("%s is a value, not a section", v.Type())
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Slice:
		if value == "" {
			return nil
		}
		var items []string
		for s := range strings.SplitSeq(value, ",") {
			items = append(items, strings.TrimSpace(s))
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot set a %s", v.Type())
	}
	return nil
}

// traefikLabelConfig decodes and checks testdata/traefik-labels.yaml
// with values in place of its {{...}}.
func traefikLabelConfig(t *testing.T, values ...string) *traefikDynamic {
	t.Helper()
	labels, err := traefikLabels(readTraefikFile(t, "testdata/traefik-labels.yaml", values...))
	if err != nil {
		t.Fatalf("traefik-labels.yaml: %v", err)
	}
	cfg, err := decodeTraefikLabels(labels)
	if err != nil {
		t.Fatalf("traefik-labels.yaml against Traefik's schema: %v", err)
	}
	if err := checkTraefikConfig(cfg); err != nil {
		t.Fatalf("traefik-labels.yaml: %v", err)
	}
	return cfg
}

// TestTraefikConfigsFollowTraefiksSchema: README's file-provider and
// Docker-label set-ups use only fields of Traefik's schema, with values
// that parse, and the labels say what the file says (the file is what
// TestForwardAuthThroughTraefik runs). The check refuses a misspelt field.
func TestTraefikConfigsFollowTraefiksSchema(t *testing.T) {
	t.Parallel()
	file := traefikFileConfig(t, traefikReadmeValues...)
	labels := traefikLabelConfig(t, traefikReadmeValues...)

	// The Docker provider makes each server's URL from the container's
	// address and the port label.
	for name, s := range file.HTTP.Services {
		ls, ok := labels.HTTP.Services[name]
		if !ok || ls.LoadBalancer == nil || len(ls.LoadBalancer.Servers) != 1 {
			t.Fatalf("the labels lack service %s", name)
		}
		u, _ := url.Parse(s.LoadBalancer.Servers[0].URL)
		if port := ls.LoadBalancer.Servers[0].Port; port != u.Port() {
			t.Errorf("service %s: port %q in the labels, %q in the file", name, port, u.Port())
		}
	}
	file.HTTP.Services, labels.HTTP.Services = nil, nil
	if !reflect.DeepEqual(file, labels) {
		t.Errorf("the labels and the file differ:\nfile:   %s\nlabels: %s", traefikYAML(file), traefikYAML(labels))
	}

	// What README promises of both.
	for name, m := range file.HTTP.Middlewares {
		if fa := m.ForwardAuth; fa != nil {
			if fa.TrustForwardHeader == nil || !*fa.TrustForwardHeader {
				t.Errorf("%s: trustForwardHeader is not true", name)
			}
			if want := []string{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name", "Remote-Auth-Methods"}; !slices.Equal(fa.AuthResponseHeaders, want) {
				t.Errorf("%s: authResponseHeaders %v", name, fa.AuthResponseHeaders)
			}
		}
	}

	// The check can fail: a misspelt field, a wrong value, a rule Traefik
	// cannot parse.
	for _, tc := range []struct{ from, to string }{
		{"trustForwardHeader: true", "trustForwardHeaders: true"},
		{"authResponseHeaders:", "authResponseHeader:"},
		{"entryPoints:", "entrypoint:"},
		{"maxResponseBodySize: 65536", "maxResponseBodySize: 64k"},
		{"&& PathPrefix(`/.stepgate/`)", "&& PathPrefix(`.stepgate/`)"},
		{"servers:", "server:"},
		{"rule: Host(`app.example.com`)\n", "rule: Host(`app.example.com`, `www.example.com`)\n"},
	} {
		var cfg traefikDynamic
		b := bytes.Replace(readTraefikFile(t, "testdata/traefik-dynamic.yaml", traefikReadmeValues...), []byte(tc.from), []byte(tc.to), 1)
		if err := traefikDecodeStrict(b, &cfg); err == nil && checkTraefikConfig(&cfg) == nil {
			t.Errorf("the file with %q in place of %q passed", tc.to, tc.from)
		}
	}
	// Labels: names in any case pass; a misspelt name or a value that
	// does not parse fails.
	upper := bytes.ReplaceAll(readTraefikFile(t, "testdata/traefik-labels.yaml", traefikReadmeValues...), []byte(".forwardauth.trustforwardheader="), []byte(".ForwardAuth.TrustForwardHeader="))
	if l, err := traefikLabels(upper); err != nil {
		t.Fatal(err)
	} else if cfg, err := decodeTraefikLabels(l); err != nil || !reflect.DeepEqual(cfg.HTTP.Middlewares, labels.HTTP.Middlewares) {
		t.Errorf("labels in another case: %v", err)
	}
	for _, tc := range []struct{ from, to string }{
		{".forwardauth.trustforwardheader=true", ".forwardauth.trustforwardheaders=true"},
		{".forwardauth.trustforwardheader=true", ".forwardauth.trustforwardheader=yes"},
		{".loadbalancer.server.port=", ".loadbalancer.servers.port="},
		{".loadbalancer.server.port=3000", ".loadbalancer.server.port.number=3000"},
		{".routers.app.priority=10", ".routers.app.priority=high"},
		{".routers.app.rule=Host(", ".routers.app.rule=Hosts("},
		{".routers.app.middlewares=stepgate-clean,stepgate-admins", ".routers.app.middlewares=stepgate-clean,stepgate-admin"},
	} {
		b := bytes.Replace(readTraefikFile(t, "testdata/traefik-labels.yaml", traefikReadmeValues...), []byte(tc.from), []byte(tc.to), 1)
		l, err := traefikLabels(b)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := decodeTraefikLabels(l); err == nil && checkTraefikConfig(cfg) == nil {
			t.Errorf("the labels with %q in place of %q passed", tc.to, tc.from)
		}
	}
}

func traefikYAML(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// TestReadmeShowsTheTraefikConfigs: README's Traefik set-ups are the
// testdata files the tests check and run, line for line with their
// indentation (it is YAML's syntax).
func TestReadmeShowsTheTraefikConfigs(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"testdata/traefik-dynamic.yaml", "testdata/traefik-labels.yaml"} {
		s := string(readTraefikFile(t, path, traefikReadmeValues...))
		start, end := strings.Index(s, "# README begin\n"), strings.Index(s, "# README end")
		if start < 0 || end < start {
			t.Fatalf("%s: no README block", path)
		}
		block := "```yaml\n" + s[start+len("# README begin\n"):end] + "```\n"
		if !strings.Contains(string(readme), block) {
			t.Errorf("README.md does not show %s as tested:\n%s", path, block)
		}
	}
}
