// Command benchkit holds the small programs bench/run.sh needs: the
// upstream app, a minimal forward-auth service, a client that signs in
// through the real portal, a password-form flood, and the report that turns
// wrk's output into the results table.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: benchkit <command> [flags]

  upstream  -addr A                     serve a ~200-byte page (the proxied app)
  fwdauth   -addr A -key K              minimal forward-auth service: 200 if the
                                        "bench" cookie carries a valid HMAC, else 401
  fwdcookie -key K                      print a cookie header value fwdauth accepts
  bcrypt    -password P                 print a bcrypt hash for Caddy's basic_auth
  signin    -base URL -user U -password P
                                        sign in through the Stepgate portal (first
                                        sign-in with TOTP registration) and print the
                                        session cookie as name=value
  flood     -base URL -c N -d DUR       N clients posting wrong passwords for random
                                        user names to the sign-in form for DUR
  users     -file F -n N -password P [-extra F2]
                                        write a users file with N users (user001 …)
  rush      -base URL -n N -password P -first IP -spread DUR
                                        N people signing in once each (first sign-in),
                                        each from its own address (IP, IP+1, …), their
                                        starts spread over DUR: the 9 o'clock rush
  report    -dir D -baseline NAME [-pairs A/B,…]
                                        print the results table from run.sh's files,
                                        and A's same-round throughput over B's
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"upstream":  upstream,
		"fwdauth":   fwdauth,
		"fwdcookie": fwdcookie,
		"bcrypt":    bcryptHash,
		"signin":    signin,
		"flood":     flood,
		"users":     users,
		"rush":      rush,
		"report":    report,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "benchkit: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchkit %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
