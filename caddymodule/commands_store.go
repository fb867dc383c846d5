package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "store",
		Usage: "migrate --from sqlite:PATH --to postgres:URL",
		Short: "Moves Stepgate's store from SQLite to PostgreSQL",
		Long: `
  stepgate store migrate --from sqlite:PATH --to postgres:URL
      Copies everything in a SQLite store (security info, counters, codes,
      devices, requests, passkeys, passes, sign-outs, recent activity) into
      an empty PostgreSQL database, in one transaction: on any error
      nothing is written. A database that holds anything is refused. Stop
      the servers that use the SQLite store first, then point their config
      at PostgreSQL (store postgres URL). The URL may be given as
      postgres:env:NAME to read it from the environment variable NAME.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(storeMigrateCommand())
		},
	})
}

func storeMigrateCommand() *cobra.Command {
	c := &cobra.Command{Use: "migrate", Short: "Copies a SQLite store into an empty PostgreSQL database", Args: cobra.NoArgs}
	from := c.Flags().String("from", "", "the SQLite store: sqlite:PATH")
	to := c.Flags().String("to", "", "the PostgreSQL database: postgres:URL or postgres:env:NAME")
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		path, ok := strings.CutPrefix(*from, "sqlite:")
		if !ok || path == "" {
			return errors.New("--from must be sqlite:PATH (the state.db file)")
		}
		url, ok := strings.CutPrefix(*to, "postgres:")
		if !ok || url == "" {
			return errors.New("--to must be postgres:URL, e.g. postgres:postgres://stepgate@db/stepgate, or postgres:env:NAME")
		}
		if name, ok := strings.CutPrefix(url, "env:"); ok {
			if url = os.Getenv(name); url == "" {
				return fmt.Errorf("--to names the environment variable %s, which is empty", name)
			}
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		src, err := store.OpenSQLite(path)
		if err != nil {
			return err
		}
		defer src.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
		defer cancel()
		dst, err := store.OpenPostgres(ctx, url)
		if err != nil {
			return err
		}
		defer dst.Close()
		counts, err := store.Copy(ctx, src, dst)
		if err != nil {
			return fmt.Errorf("nothing was copied: %w", err)
		}
		tables := make([]string, 0, len(counts))
		for t := range counts {
			tables = append(tables, t)
		}
		sort.Strings(tables)
		out := cmd.OutOrStdout()
		for _, t := range tables {
			fmt.Fprintf(out, "%s\t%d\n", t, counts[t])
		}
		fmt.Fprintf(out, "copied %s into PostgreSQL; point the config at it with store postgres URL\n", path)
		return nil
	}
	return c
}
