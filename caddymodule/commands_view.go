package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/account"
)

func userListCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "Lists the users with their sign-in methods, lockout and last sign-in",
		Long: `Lists every user of the users file, sorted by name, with what the store
knows of them.

With --json it prints a JSON array with one object per user:

  name          the username
  display_name  the full name ("" when not set)
  email         the email address ("" when not set)
  groups        the groups (an array, maybe empty)
  methods       the sign-in methods: "totp" (authenticator app), the
                phone's methods ("sms", "voice"; "phone" when the config
                turns on neither or no config was read), "push:N" (N
                Stepgate Authenticator devices), "METHOD:N" (N credentials
                of another method)
  locked        true when the password or the second step is in back-off
                now, or locked until ` + "`stepgate user unlock`" + `
  disabled      true when the users file says disabled: true (with
                directory ldap: when the directory says the account is
                disabled or locked)
  last_sign_in  the last completed sign-in among the user's recent
                activity (RFC 3339), or null

Fields may be added; none is renamed or removed.`,
		Args: cobra.NoArgs,
	}
	opts := addAccountFlags(c)
	asJSON := c.Flags().Bool("json", false, "print JSON (fields in the help)")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		svc, done, err := opts.service(cmd, true)
		if err != nil {
			return err
		}
		defer done()
		list, err := svc.List(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if *asJSON {
			return printJSON(out, list)
		}
		if len(list) == 0 {
			fmt.Fprintf(out, "%s has no users\n", svc.DirectoryName())
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tGROUPS\tMETHODS\tLOCKED\tDISABLED\tLAST SIGN-IN")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, orDash(u.DisplayName), orDash(strings.Join(u.Groups, ",")),
				orDash(strings.Join(u.Methods, ",")), yesNo(u.Locked), yesNo(u.Disabled), when(u.LastSignIn, "never"))
		}
		return tw.Flush()
	}
	return c
}

func userShowCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "show <name>",
		Short: "Shows a user's methods, devices, lockout state and recent activity",
		Long: `Shows one user: who they are, their sign-in methods (phone numbers masked),
their lockout state and their recent activity.

With --json it prints one JSON object with the fields of ` + "`stepgate user list --json`" + `
and these:

  default_method   the method sign-ins start with ("": the strongest)
  totp             the authenticator app: {"added"}, or null
  phone            the phone: {"masked", "methods", "added"}, or null;
                   "masked" shows the country code and the last two digits
  devices          Stepgate Authenticator devices: [{"id", "name",
                   "created", "last_used", "notifications"}], notifications
                   being "on", "off" or "stopped"
  credentials      other methods' credentials (passkeys): [{"id", "method",
                   "name", "created", "last_used"}]
  remembered_browsers  browsers that skip the second step (session
                   remember_device): [{"id", "name", "created",
                   "expires", "last_used"}], newest first
  lockout          the failure counters: [{"counter" ("password" or
                   "code", the second step), "failures" (in a row),
                   "last_failure", "locked", "locked_until" (end of the
                   back-off; null when not in back-off or hard locked),
                   "hard_locked" (until ` + "`stepgate user unlock`" + `)}]
  blocked_methods  methods turned off after a fraud report ("voice",
                   "push"), until ` + "`stepgate user unlock`" + `
  recent_activity  the newest 20 events: [{"at", "outcome", "method",
                   "client_ip", "site", "detail"}], newest first; detail
                   names the passkey or device an event was about
  access_pass      the Temporary Access Pass while it can be used:
                   {"created", "expires", "reusable", "last_used"}, or
                   null (the pass itself is never shown again)
  registration_granted  true after reset-methods until the user sets up
                   a method

Times are RFC 3339; a time that is unknown or never happened is null.
Arrays are never null. Fields may be added; none is renamed or removed.`,
		Args: cobra.ExactArgs(1),
	}
	opts := addAccountFlags(c)
	asJSON := c.Flags().Bool("json", false, "print JSON (fields in the help)")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		svc, done, err := opts.service(cmd, true)
		if err != nil {
			return err
		}
		defer done()
		d, err := svc.Show(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(cmd.OutOrStdout(), d)
		}
		return printDetails(cmd.OutOrStdout(), d)
	}
	return c
}

// printDetails writes a user's details as a readable block.
func printDetails(out io.Writer, d account.Details) error {
	title := d.Name
	if d.DisplayName != "" {
		title += " (" + d.DisplayName + ")"
	}
	if d.Email != "" {
		title += " <" + d.Email + ">"
	}
	fmt.Fprintln(out, title)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  groups:\t%s\n", orDash(strings.Join(d.Groups, ", ")))
	fmt.Fprintf(tw, "  disabled:\t%s\n", yesNo(d.Disabled))
	fmt.Fprintf(tw, "  locked:\t%s\n", lockWords(d))
	fmt.Fprintf(tw, "  last sign-in:\t%s\n", when(d.LastSignIn, "never"))
	def := d.DefaultMethod
	if def == "" {
		def = "the strongest one"
	}
	fmt.Fprintf(tw, "  default method:\t%s\n", def)
	if len(d.BlockedMethods) > 0 {
		fmt.Fprintf(tw, "  blocked:\t%s, after a fraud report (until `stepgate user unlock`)\n", strings.Join(d.BlockedMethods, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out, "  methods:")
	none := true
	if d.TOTP != nil {
		none = false
		fmt.Fprintf(out, "    authenticator app, added %s\n", when(d.TOTP.Added, "(unknown)"))
	}
	if d.Phone != nil {
		none = false
		fmt.Fprintf(out, "    phone %s (%s), added %s\n", d.Phone.Masked, strings.Join(d.Phone.Methods, ", "), when(d.Phone.Added, "(unknown)"))
	}
	for _, dev := range d.Devices {
		none = false
		fmt.Fprintf(out, "    device %s (ID %s), set up %s, last approved %s, %s\n", strconv.Quote(dev.Name), dev.ID,
			when(&dev.Created, ""), when(dev.LastUsed, "never"), notificationWords(dev.Notifications))
	}
	for _, c := range d.Credentials {
		none = false
		fmt.Fprintf(out, "    %s %s (ID %s), added %s, last used %s\n", c.Method, strconv.Quote(c.Name), c.ID, when(&c.Created, ""), when(c.LastUsed, "never"))
	}
	if none {
		fmt.Fprintln(out, "    none")
	}
	if d.RegistrationGranted {
		fmt.Fprintln(out, "    (may set up a method at the next sign-in: reset by an administrator)")
	}
	for _, b := range d.RememberedBrowsers {
		fmt.Fprintf(out, "  remembered browser %s (skips the second step), remembered %s, last used %s, until %s\n", strconv.Quote(b.Name),
			when(&b.Created, ""), when(b.LastUsed, "never"), when(&b.Expires, ""))
	}
	if p := d.AccessPass; p != nil {
		uses := "single use, unused"
		if p.Reusable {
			uses = "reusable, last used " + when(p.LastUsed, "never")
		}
		fmt.Fprintf(out, "  Temporary Access Pass: until %s (%s)\n", when(&p.Expires, ""), uses)
	}

	fmt.Fprintln(out, "  recent activity:")
	if len(d.RecentActivity) == 0 {
		fmt.Fprintln(out, "    none")
		return nil
	}
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    WHEN\tOUTCOME\tMETHOD\tCLIENT\tSITE")
	for _, e := range d.RecentActivity {
		method := orDash(e.Method)
		if e.Detail != "" {
			method += " " + strconv.Quote(e.Detail)
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", when(&e.At, ""), e.Outcome, method, orDash(e.ClientIP), orDash(e.Site))
	}
	return tw.Flush()
}

// lockWords says whether and how the account is locked.
func lockWords(d account.Details) string {
	var parts []string
	for _, c := range d.Lockout {
		what := c.Counter
		if what == "code" {
			what = "second step"
		}
		switch {
		case c.HardLocked:
			parts = append(parts, fmt.Sprintf("%s locked after %s in a row, until `stepgate user unlock`", what, failures(c.Failures)))
		case c.Locked:
			parts = append(parts, fmt.Sprintf("%s in back-off after %s in a row, until %s", what, failures(c.Failures), c.LockedUntil.UTC().Format("2006-01-02 15:04:05 UTC")))
		case c.Failures > 0:
			parts = append(parts, fmt.Sprintf("%s not locked, %s in a row", what, failures(c.Failures)))
		}
	}
	if len(parts) == 0 {
		return "no"
	}
	prefix := "no: "
	if d.Locked {
		prefix = "yes: "
	}
	return prefix + strings.Join(parts, "; ")
}

// failures is "1 failure" or "N failures".
func failures(n int) string {
	if n == 1 {
		return "1 failure"
	}
	return strconv.Itoa(n) + " failures"
}

// printJSON writes v as indented JSON.
func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// when formats a time in UTC to the minute, or says none for nil.
func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
