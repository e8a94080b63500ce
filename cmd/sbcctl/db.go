package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/luasbc/luasbc/core/backend"
	"github.com/luasbc/luasbc/core/config"
	"github.com/luasbc/luasbc/kemi/dbschema"
	_ "github.com/luasbc/luasbc/modules/all"
)

// runDB handles `db create|migrate|show`, which talk to PostgreSQL directly
// (like kamdbctl), not to a running server. The URL is --db-url, else the
// db_url of the -c config.
func runDB(args []string, dbURL, cfgPath string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("db: want db create, db migrate or db show")
	}
	if dbURL == "" && cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return err
		}
		dbURL = cfg.DBURL
	}
	if dbURL == "" {
		return errors.New("db: no database: give --db-url postgres://... or -c CONFIG with db_url")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := backend.Postgres(ctx, dbURL)
	if err != nil {
		return err
	}
	defer backend.CloseAll()
	es := dbschema.All()
	switch args[0] {
	case "create":
		created, err := dbschema.Create(ctx, db, es)
		report(stdout, "created", created)
		return err
	case "migrate":
		created, versioned, mismatched, err := dbschema.Migrate(ctx, db, es)
		report(stdout, "created", created)
		report(stdout, "version row added for", versioned)
		for _, s := range mismatched {
			fmt.Fprintf(stdout, "table %s: %s; upgrade it as Kamailio's release notes say\n", s.Name, s.Problem())
		}
		if err == nil && len(created)+len(versioned) == 0 && len(mismatched) == 0 {
			fmt.Fprintln(stdout, "every table is up to date")
		}
		return err
	case "show", "status":
		st, err := dbschema.Inspect(ctx, db, es)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tMODULE\tVERSION\tSTATE")
		for _, s := range st {
			state := s.Problem()
			if state == "" {
				state = "ok"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Name, s.Module, s.Version, state)
		}
		return tw.Flush()
	}
	return fmt.Errorf("db: unknown verb %q (create, migrate, show)", args[0])
}

func report(w io.Writer, what string, tables []string) {
	if len(tables) > 0 {
		fmt.Fprintf(w, "%s: %s\n", what, strings.Join(tables, ", "))
	}
}
