package caddymodule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/verifiers/password"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "user",
		Usage: "list | show <name> | add <name> | passwd <name> | disable <name> | enable <name> | sign-out <name> | reset-methods <name> | tap <name> | unlock <name> | devices <name> | hash-password",
		Short: "Manages Stepgate's users and their accounts",
		Long: `
Manages the users file and the accounts in the store that the stepgate app
of the Caddy config names (users_file and store).

Every command but hash-password finds them the way ` + "`stepgate run`" + ` finds its
config: --config PATH (-c), or ./Caddyfile when it exists; --adapter NAME
(-a) adapts it, by default caddyfile for a file named Caddyfile* or
*.caddyfile and JSON otherwise. --users-file PATH (-f) and --store PATH
override what the config says; without a config the users file is
$STEPGATE_USERS_FILE and the store is stepgate/state.db in Caddy's data
directory. The commands work while the server runs: it sees their changes
within a few seconds.

  stepgate user list [--json]
      Lists the users: name, display name, groups, sign-in methods, whether
      the account is locked or disabled, and the last sign-in.

  stepgate user show <name> [--json]
      Shows one user: their methods with devices and masked phone number,
      lockout state, methods blocked after a fraud report, and recent
      activity.

  stepgate user add <name> [--group G]... [--email E] [--name "Full Name"] [--password-stdin]
      Adds a user. The password is asked for twice on the terminal, or read
      from the first line of standard input with --password-stdin. The file
      is replaced atomically; a running Stepgate picks the change up within
      a few seconds.

  stepgate user passwd <name> [--password-stdin]
      Sets the user's password (8 to 256 characters, not the username, the
      display name or a common password) and ends their sessions.

  stepgate user disable <name>  /  stepgate user enable <name>
      Disables the user (disabled: true in the users file) and ends their
      sessions; a running gateway refuses them within a few seconds.
      Enable lets them sign in again.

  stepgate user sign-out <name>
      Ends every session of the user, on every instance sharing the store.

  stepgate user reset-methods <name>
      Removes every sign-in method of the user (a lost phone) and ends their
      sessions; they set up a new method at their next sign-in, also where
      registration is off.

  stepgate user tap <name> [--lifetime 1h] [--length 16] [--reusable]
      Issues a Temporary Access Pass and prints it once: the user signs in
      with it ("Use a Temporary Access Pass") without password or second
      step, to set up methods. It works once unless --reusable, until it
      expires (10m to 720h); a new pass replaces the old one.

  Each of these takes --json and then prints a JSON object: user, action,
  changed, and removed (reset-methods) or pass {pass, expires, reusable}
  (tap).

  stepgate user unlock <name>
      Clears the user's failed-attempt counters, ending a lockout, and turns
      phone calls and sign-in requests back on after a fraud report.

  stepgate user devices <name> [--remove ID]
      Lists the user's Stepgate Authenticator devices and passkeys, or
      removes one.

  stepgate user hash-password [--password-stdin]   (also: stepgate hash-password)
      Prints an argon2id hash for the password field of the users file.

With a users file, a name that is not in it is an error; unlock and
devices without one (only --store given) work on any name.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(userListCommand(), userShowCommand(), userAddCommand(), userPasswdCommand(), userDisableCommand(), userEnableCommand(),
				userSignOutCommand(), userResetMethodsCommand(), userTapCommand(), userUnlockCommand(), userDevicesCommand(), hashPasswordCommand())
		},
	})
}

func userAddCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "add <name>",
		Short: "Adds a user to the users file",
		Args:  cobra.ExactArgs(1),
	}
	opts := addAccountFlags(c)
	groups := c.Flags().StringArrayP("group", "g", nil, "group membership (repeat for several)")
	email := c.Flags().String("email", "", "email address")
	display := c.Flags().String("name", "", "display name")
	stdin := c.Flags().Bool("password-stdin", false, "read the password from the first line of standard input")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		svc, done, err := opts.service(cmd, false)
		if err != nil {
			return err
		}
		defer done()
		// Checked before the password is asked for.
		if err := svc.CheckEditable(); err != nil {
			return err
		}
		name := args[0]
		if err := account.CheckName(name); err != nil {
			return err
		}
		pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), *stdin)
		if err != nil {
			return err
		}
		if err := svc.Add(cmd.Context(), account.NewUser{Name: name, DisplayName: *display, Email: *email, Groups: *groups, Password: pw}); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "added user %s to %s\n", name, svc.UsersFile())
		return nil
	}
	return c
}

func userUnlockCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "unlock <name>",
		Short: "Ends a user's lockout after failed attempts, and turns phone calls and sign-in requests back on after a fraud report",
		Args:  cobra.ExactArgs(1),
	}
	opts := addAccountFlags(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		svc, done, err := opts.service(cmd, true)
		if err != nil {
			return err
		}
		defer done()
		n, err := svc.Unlock(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "%s had no failed attempts recorded\n", args[0])
			return nil
		}
		fmt.Fprintf(cmd.OutOrStdout(), "unlocked %s (%d counters cleared)\n", args[0], n)
		return nil
	}
	return c
}

func userDevicesCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "devices <name>",
		Short: "Lists a user's Stepgate Authenticator devices and passkeys, or removes one (--remove ID) when it is lost",
		Args:  cobra.ExactArgs(1),
	}
	opts := addAccountFlags(c)
	remove := c.Flags().String("remove", "", "ID of the device or passkey to remove")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		svc, done, err := opts.service(cmd, true)
		if err != nil {
			return err
		}
		defer done()
		out := cmd.OutOrStdout()
		if *remove != "" {
			if err := svc.RemoveDevice(cmd.Context(), args[0], *remove); err != nil {
				return err
			}
			fmt.Fprintf(out, "removed %s of %s; it can no longer be used to sign in\n", *remove, args[0])
			return nil
		}
		devs, err := svc.Devices(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		creds, err := svc.Credentials(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if len(devs) == 0 && len(creds) == 0 {
			fmt.Fprintf(out, "%s has no authenticator devices or passkeys\n", args[0])
			return nil
		}
		for _, d := range devs {
			fmt.Fprintf(out, "%s\t%s\tset up %s\t%s\n", d.ID, d.Name, d.Created.UTC().Format("2006-01-02 15:04 UTC"), notificationWords(d.Notifications))
		}
		for _, c := range creds {
			fmt.Fprintf(out, "%s\t%s\t%s added %s\tlast used %s\n", c.ID, c.Name, c.Method, c.Created.UTC().Format("2006-01-02 15:04 UTC"), when(c.LastUsed, "never"))
		}
		return nil
	}
	return c
}

// notificationWords says what a device's notifications state means.
func notificationWords(state string) string {
	switch state {
	case "stopped":
		return "notifications stopped (renewed when the app is opened)"
	case "off":
		return "notifications off"
	}
	return "notifications on"
}

func hashPasswordCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "hash-password",
		Short: "Prints an argon2id hash of a password for the users file",
		Args:  cobra.NoArgs,
	}
	stdin := c.Flags().Bool("password-stdin", false, "read the password from the first line of standard input")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		hash, err := readAndHash(cmd, *stdin)
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), hash)
		return nil
	}
	return c
}

// readAndHash reads a password and returns its argon2id hash.
func readAndHash(cmd *cobra.Command, fromStdin bool) (string, error) {
	pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), fromStdin)
	if err != nil {
		return "", err
	}
	return password.Hash(pw)
}

// readPassword reads a password from the first line of in (fromStdin), or
// prompts twice on the terminal without echo.
func readPassword(in io.Reader, prompt io.Writer, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(in, password.MaxPasswordLen+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password on standard input")
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to ask for the password: pipe it in with --password-stdin")
	}
	fmt.Fprint(prompt, "Password: ")
	fd := int(f.Fd())
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	fmt.Fprint(prompt, "Confirm password: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords do not match")
	}
	if len(first) == 0 {
		return "", errors.New("empty password")
	}
	return string(first), nil
}
