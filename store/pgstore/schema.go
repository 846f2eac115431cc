package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxIdentLen is Postgres's limit on identifiers (NAMEDATALEN-1). Longer
// names are silently truncated by the server, which could make two tables
// share a name; the store refuses them instead.
const maxIdentLen = 63

// names holds the quoted identifiers the store's SQL is built from, once, in
// New: no identifier is ever spliced into SQL unquoted.
type names struct {
	table      string // quoted and, with a schema, qualified: "s"."t"
	userIndex  string // quoted, unqualified (an index lives in its table's schema)
	expIndex   string
	channel    string // as given, for pg_notify's text argument
	listen     string // quoted, for LISTEN
	display    string // schema.table, unquoted, for messages and lock keys
	ddlLockKey int64
}

func checkIdent(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("pgstore: %s is empty", what)
	case len(s) > maxIdentLen:
		return fmt.Errorf("pgstore: %s %.20q… is %d bytes, Postgres allows %d", what, s, len(s), maxIdentLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("pgstore: %s %q is not valid UTF-8", what, s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("pgstore: %s %q contains a NUL byte", what, s)
	}
	return nil
}

func newNames(cfg *config) (*names, error) {
	if err := checkIdent("table name", cfg.table); err != nil {
		return nil, err
	}
	if cfg.schema != "" {
		if err := checkIdent("schema name", cfg.schema); err != nil {
			return nil, err
		}
	}
	if err := checkIdent("channel name", cfg.channel); err != nil {
		return nil, err
	}
	n := &names{
		channel: cfg.channel,
		listen:  pgx.Identifier{cfg.channel}.Sanitize(),
	}
	if cfg.schema != "" {
		n.table = pgx.Identifier{cfg.schema, cfg.table}.Sanitize()
		n.display = cfg.schema + "." + cfg.table
	} else {
		n.table = pgx.Identifier{cfg.table}.Sanitize()
		n.display = cfg.table
	}
	n.userIndex = pgx.Identifier{indexName(cfg.table, "_user_id_idx")}.Sanitize()
	n.expIndex = pgx.Identifier{indexName(cfg.table, "_expires_idx")}.Sanitize()
	h := fnv.New32a()
	h.Write([]byte(n.display))
	n.ddlLockKey = lockKey(lockTagDDL, h.Sum32())
	return n, nil
}

// indexName appends suffix to table, keeping the result within Postgres's
// identifier limit: a long table name is cut (at a character boundary) and a
// hash of the whole name keeps two long names apart.
func indexName(table, suffix string) string {
	name := table + suffix
	if len(name) <= maxIdentLen {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	tag := fmt.Sprintf("_%08x", h.Sum32())
	cut := maxIdentLen - len(tag) - len(suffix)
	for cut > 0 && !utf8.RuneStart(table[cut]) {
		cut--
	}
	return table[:cut] + tag + suffix
}

// Advisory lock keys are a tag in the high half, so that Tether's keys are
// unlikely to collide with an application's own advisory locks, and a table's
// identity in the low half.
const (
	lockTagDDL  = 0x74746864 // "tthd": creating the table, keyed by its name
	lockTagReap = 0x74746872 // "tthr": reaping the table, keyed by its OID
)

func lockKey(tag int64, low uint32) int64 { return tag<<32 | int64(low) }

// ddl returns the schema statements for the configured names: creation, then
// upgrade.
func (n *names) ddl() string { return n.create() + n.upgrade() }

// hasAttrs reports whether the table ($1, quoted) has the attrs column.
const hasAttrs = `SELECT EXISTS (SELECT FROM pg_attribute
	WHERE attrelid = $1::regclass AND attname = 'attrs' AND NOT attisdropped)`

// create returns the statements that create the table and its indexes.
func (n *names) create() string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (
	id        text        PRIMARY KEY,
	vals      jsonb       NOT NULL DEFAULT '{}',
	user_id   text,
	created   timestamptz NOT NULL,
	last_seen timestamptz NOT NULL,
	expires   timestamptz NOT NULL,
	version   bigint      NOT NULL,
	moved_to  text,
	sealed    bytea,
	attrs     bytea
);
CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS %[3]s ON %[1]s (expires);
`, n.table, n.userIndex, n.expIndex)
}

// upgrade returns the statements that bring a table created by an earlier
// version up to date: the attrs column, which tables from before session
// attributes lack. Adding a nullable column without a default changes only
// the catalog; old rows read as NULL, no attributes.
func (n *names) upgrade() string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS attrs bytea;\n", n.table)
}

// DDL returns the SQL that creates the sessions table and its indexes, for
// the table the same options would give [New]: run it from your migrations
// and pass WithCreateTable(false) to New. The statements are idempotent
// (IF NOT EXISTS).
//
// The table holds one row per record:
//
//   - id: the record ID (the SHA-256 of the session token, in hex), the key.
//   - vals: the values, a jsonb object from key to the value's bytes in
//     standard base64, so that a commit's delta applies in one statement with
//     jsonb's - and || operators.
//   - user_id: the user the session is indexed under, NULL for none; a
//     partial index serves UserSessions and DeleteUser. A user id that is
//     not valid text (NUL, invalid UTF-8), or begins with byte 0x01, is
//     stored as 0x01 and the hex of its bytes.
//   - created, last_seen, expires: the record's times; an index on expires
//     serves the reaper.
//   - version: increases with every write.
//   - moved_to, sealed: set on a rotation tombstone (the new ID and the
//     sealed token); NULL on a live session.
//   - attrs: the session's attributes ([store.Record.Attrs]), NULL for none:
//     a version byte, their size as Record.Size counts it (4 bytes,
//     big-endian, so that a write's size check reads it without decoding),
//     then the count and each key and value, length-prefixed, in key order.
//     Binary rather than jsonb, which refuses the NUL character: any string
//     round-trips exactly.
//
// The last statement, an ALTER TABLE, adds the attrs column to a table
// created before session attributes; it is idempotent too.
//
// It returns an error for an invalid table, schema or channel name.
func DDL(opts ...Option) (string, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	n, err := newNames(&cfg)
	if err != nil {
		return "", err
	}
	return n.ddl(), nil
}

// setupTable creates the table if configured to, checks that it has the
// expected columns, and returns its OID, which keys the reaper's lock.
func setupTable(ctx context.Context, pool *pgxpool.Pool, cfg *config, n *names) (uint32, error) {
	if cfg.createTable {
		// Nodes that start together would race in CREATE ... IF NOT EXISTS,
		// which is not safe against concurrent creators (a unique violation
		// in the catalog): a transaction-scoped advisory lock queues them.
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", n.ddlLockKey); err != nil {
				return err
			}
			// The upgrade's ALTER TABLE takes the table's ACCESS
			// EXCLUSIVE lock even when the column exists, queueing
			// behind every open transaction on the table and every
			// request behind it: it runs only if the column is missing.
			var has bool
			if _, err := tx.Exec(ctx, n.create()); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, hasAttrs, n.table).Scan(&has); err != nil || has {
				return err
			}
			_, err := tx.Exec(ctx, n.upgrade())
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("pgstore: create table %s: %w", n.display, err)
		}
	}
	var oid *uint32
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1)::oid", n.table).Scan(&oid); err != nil {
		return 0, fmt.Errorf("pgstore: look up table %s: %w", n.display, err)
	}
	if oid == nil {
		return 0, fmt.Errorf("pgstore: table %s does not exist: create it with the statements of pgstore.DDL, or use WithCreateTable(true)", n.display)
	}
	// Reading every column the store uses catches a table of another shape
	// now rather than at the first request.
	rows, err := pool.Query(ctx, "SELECT id, vals, user_id, created, last_seen, expires, version, moved_to, sealed, attrs FROM "+n.table+" LIMIT 0")
	if err == nil {
		rows.Close()
		err = rows.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: table %s does not have the expected columns (see pgstore.DDL): %w", n.display, err)
	}
	return *oid, nil
}

var errInvalidID = errors.New("pgstore: record ID is not valid UTF-8 text of at most 1024 bytes without NUL")
