package caddymodule

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/account"
)

// actionResult is what a command that changes an account prints with
// --json. Fields may be added; none is renamed or removed.
type actionResult struct {
	// User is the user acted on.
	User string `json:"user"`
	// Action is the command: "disable", "enable", "sign-out", "passwd",
	// "reset-methods", "tap".
	Action string `json:"action"`
	// Changed is false when there was nothing to change (disabling a
	// disabled user).
	Changed bool `json:"changed"`
	// Removed is how many methods reset-methods removed.
	Removed *int `json:"removed,omitempty"`
	// Pass is the Temporary Access Pass tap issued, with its end and
	// whether it can be used more than once.
	Pass *account.IssuedPass `json:"pass,omitempty"`
}

// adminCommand builds a `stepgate user VERB <name>` command that changes
// an account: run does the change and returns the result and the line to
// print without --json.
func adminCommand(use, short, long string, needStore bool, flags func(*cobra.Command), run func(ctx context.Context, svc *account.Service, cmd *cobra.Command, name string) (actionResult, string, error)) *cobra.Command {
	c := &cobra.Command{Use: use + " <name>", Short: short, Long: long, Args: cobra.ExactArgs(1)}
	opts := addAccountFlags(c)
	asJSON := c.Flags().Bool("json", false, "print the result as a JSON object")
	if flags != nil {
		flags(c)
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		svc, done, err := opts.service(cmd, needStore)
		if err != nil {
			return err
		}
		defer done()
		res, line, err := run(cmd.Context(), svc, cmd, args[0])
		if err != nil {
			return err
		}
		res.Action = use
		if *asJSON {
			return printJSON(cmd.OutOrStdout(), res)
		}
		fmt.Fprintln(cmd.OutOrStdout(), line)
		return nil
	}
	return c
}

func userDisableCommand() *cobra.Command {
	return adminCommand("disable", "Disables a user: their sessions end and they cannot sign in until enabled",
		"Sets disabled: true in the user's entry of the users file and ends their\nsessions. A running gateway refuses the user within a few seconds.", true, nil,
		func(ctx context.Context, svc *account.Service, _ *cobra.Command, name string) (actionResult, string, error) {
			changed, err := svc.Disable(ctx, name)
			if err != nil {
				return actionResult{}, "", err
			}
			line := "disabled " + name + "; their sessions are ended"
			if !changed {
				line = name + " was already disabled; their sessions are ended"
			}
			return actionResult{User: name, Changed: changed}, line, nil
		})
}

func userEnableCommand() *cobra.Command {
	return adminCommand("enable", "Enables a disabled user again",
		"Removes disabled: true from the user's entry of the users file. Sessions\nended when the user was disabled stay ended.", false, nil,
		func(ctx context.Context, svc *account.Service, _ *cobra.Command, name string) (actionResult, string, error) {
			changed, err := svc.Enable(ctx, name)
			if err != nil {
				return actionResult{}, "", err
			}
			line := "enabled " + name
			if !changed {
				line = name + " was not disabled"
			}
			return actionResult{User: name, Changed: changed}, line, nil
		})
}

func userSignOutCommand() *cobra.Command {
	return adminCommand("sign-out", "Ends every session of a user, on every instance sharing the store",
		"Ends every session the user has now, in every browser and on every\ninstance that shares the store, within a few seconds. The user can sign\nin again.", true, nil,
		func(ctx context.Context, svc *account.Service, _ *cobra.Command, name string) (actionResult, string, error) {
			if err := svc.SignOut(ctx, name); err != nil {
				return actionResult{}, "", err
			}
			return actionResult{User: name, Changed: true}, "signed out every session of " + name, nil
		})
}

func userPasswdCommand() *cobra.Command {
	var stdin *bool
	return adminCommand("passwd", "Sets a user's password and ends their sessions",
		`Sets the user's password in the users file and ends their sessions. The
password is asked for twice on the terminal, or read from the first line of
standard input with --password-stdin. It must have 8 to 256 characters and
must not be the username, the display name or a commonly used password.`, true,
		func(c *cobra.Command) {
			stdin = c.Flags().Bool("password-stdin", false, "read the password from the first line of standard input")
		},
		func(ctx context.Context, svc *account.Service, cmd *cobra.Command, name string) (actionResult, string, error) {
			// The user is checked before the password is asked for.
			if _, err := svc.Lookup(name); err != nil {
				return actionResult{}, "", err
			}
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), *stdin)
			if err != nil {
				return actionResult{}, "", err
			}
			if _, err := svc.SetPassword(ctx, name, pw); err != nil {
				return actionResult{}, "", err
			}
			return actionResult{User: name, Changed: true}, "set the password of " + name + "; their sessions are ended", nil
		})
}

func userResetMethodsCommand() *cobra.Command {
	return adminCommand("reset-methods", "Removes every sign-in method of a user, ends their sessions, and lets them set up a new one",
		`Removes the user's authenticator app, phone number, Stepgate Authenticator
devices and other methods, and ends their sessions. At their next sign-in
(with their password, or a Temporary Access Pass from `+"`stepgate user tap`"+`)
they set up one method, also where first-sign-in registration is off.`, true, nil,
		func(ctx context.Context, svc *account.Service, _ *cobra.Command, name string) (actionResult, string, error) {
			n, err := svc.ResetMethods(ctx, name)
			if err != nil {
				return actionResult{}, "", err
			}
			return actionResult{User: name, Changed: n > 0, Removed: &n},
				fmt.Sprintf("removed %d sign-in method(s) of %s and ended their sessions; they set up a new method at their next sign-in", n, name), nil
		})
}

func userTapCommand() *cobra.Command {
	var lifetime *time.Duration
	var length *int
	var reusable *bool
	return adminCommand("tap", "Issues a Temporary Access Pass: the user signs in with it to set up new methods",
		`Issues a Temporary Access Pass for the user and prints it once (only a hash
is kept). The user chooses "Use a Temporary Access Pass" on the sign-in
page, types their username and the pass, and is signed in without their
password or a second step, to set up sign-in methods on Security info. The
session ends when the pass expires. A new pass replaces the user's earlier
one. By default a pass has 16 characters, lasts 1 hour and works once.`, true,
		func(c *cobra.Command) {
			lifetime = c.Flags().Duration("lifetime", account.DefaultPassLifetime, "how long the pass works (10m to 720h)")
			length = c.Flags().Int("length", account.DefaultPassLength, "characters in the pass (8 to 48)")
			reusable = c.Flags().Bool("reusable", false, "the pass works until it expires, not only once")
		},
		func(ctx context.Context, svc *account.Service, _ *cobra.Command, name string) (actionResult, string, error) {
			p, err := svc.IssueAccessPass(ctx, name, account.PassOptions{Length: *length, Lifetime: *lifetime, Reusable: *reusable})
			if err != nil {
				return actionResult{}, "", err
			}
			uses := "once"
			if p.Reusable {
				uses = "until then"
			}
			return actionResult{User: name, Changed: true, Pass: &p},
				fmt.Sprintf("Temporary Access Pass for %s: %s\nIt works %s, until %s. It is not shown again.", name, p.Pass, uses, p.Expires.UTC().Format("2006-01-02 15:04 UTC")), nil
		})
}
