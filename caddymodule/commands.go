package caddymodule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "user",
		Usage: "add <name> | unlock <name> | hash-password",
		Short: "Manages Stepgate's users file",
		Long: `
Manages the users file named by users_file in the Caddyfile.

  stepgate user add <name> --users-file PATH [--group G]... [--email E] [--name "Full Name"] [--password-stdin]
      Adds a user. The password is asked for twice on the terminal, or read
      from the first line of standard input with --password-stdin. The file
      is replaced atomically; a running Stepgate picks the change up within
      a few seconds.

  stepgate user unlock <name> [--store PATH]
      Clears the user's failed-attempt counters, ending a lockout. --store is
      the SQLite state file (default: stepgate/state.db in Caddy's data
      directory, as the server uses when no store is configured).

  stepgate user hash-password [--password-stdin]   (also: stepgate hash-password)
      Prints an argon2id hash for the password field of the users file.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(userAddCommand(), userUnlockCommand(), userDevicesCommand(), hashPasswordCommand())
		},
	})
}

func userAddCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "add <name>",
		Short: "Adds a user to the users file",
		Args:  cobra.ExactArgs(1),
	}
	file := c.Flags().StringP("users-file", "f", os.Getenv("STEPGATE_USERS_FILE"), "users file (default $STEPGATE_USERS_FILE)")
	groups := c.Flags().StringArrayP("group", "g", nil, "group membership (repeat for several)")
	email := c.Flags().String("email", "", "email address")
	display := c.Flags().String("name", "", "display name")
	stdin := c.Flags().Bool("password-stdin", false, "read the password from the first line of standard input")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if *file == "" {
			return errors.New("no users file: pass --users-file PATH (or set STEPGATE_USERS_FILE)")
		}
		name := args[0]
		if password.NormalizeName(name) != name {
			return fmt.Errorf("invalid username %q: use lower case letters, digits and . _ @ - (at most 64)", name)
		}
		hash, err := readAndHash(cmd, *stdin)
		if err != nil {
			return err
		}
		if err := password.AddUser(*file, password.NewUser{Name: name, DisplayName: *display, Email: *email, Groups: *groups, Hash: hash}); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "added user %s to %s\n", name, *file)
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
	open := storeFlag(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := open()
		if err != nil {
			return err
		}
		defer st.Close()
		n, err := st.UnlockUser(cmd.Context(), args[0])
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

// storeFlag adds --store to c and returns a function opening that store.
func storeFlag(c *cobra.Command) func() (*store.SQLite, error) {
	path := c.Flags().String("store", filepath.Join(caddy.AppDataDir(), "stepgate", "state.db"), "SQLite state file")
	return func() (*store.SQLite, error) {
		if _, err := os.Stat(*path); err != nil {
			return nil, fmt.Errorf("store %s: %w (pass --store with the path from the Caddyfile's `store sqlite PATH`)", *path, err)
		}
		return store.OpenSQLite(*path)
	}
}

func userDevicesCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "devices <name>",
		Short: "Lists a user's Stepgate Authenticator devices, or removes one (--remove ID) when a phone is lost",
		Args:  cobra.ExactArgs(1),
	}
	open := storeFlag(c)
	remove := c.Flags().String("remove", "", "ID of the device to remove")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := open()
		if err != nil {
			return err
		}
		defer st.Close()
		out := cmd.OutOrStdout()
		if *remove != "" {
			if err := st.DeletePushDevice(cmd.Context(), args[0], *remove); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s has no device %q (run `stepgate user devices %s` to list them)", args[0], *remove, args[0])
			} else if err != nil {
				return err
			}
			fmt.Fprintf(out, "removed device %s of %s; it can no longer approve sign-ins\n", *remove, args[0])
			return nil
		}
		devs, err := st.PushDevices(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if len(devs) == 0 {
			fmt.Fprintf(out, "%s has no authenticator devices\n", args[0])
			return nil
		}
		for _, d := range devs {
			notify := "notifications on"
			switch {
			case d.Gone:
				notify = "notifications stopped (renewed when the app is opened)"
			case d.Subscription == "":
				notify = "notifications off"
			}
			fmt.Fprintf(out, "%s\t%s\tset up %s\t%s\n", d.ID, d.Name, d.Created.UTC().Format("2006-01-02 15:04 UTC"), notify)
		}
		return nil
	}
	return c
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
