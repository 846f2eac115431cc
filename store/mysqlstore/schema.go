package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// maxTableLen keeps the values table's name (the table's plus "_values")
// within MySQL's 64-character identifier limit.
const maxTableLen = 64 - len("_values")

// InvalidNameError is returned by [New] and [DDL] for a table name outside
// the accepted alphabet (see [WithTable]).
type InvalidNameError struct {
	Name   string
	Reason string
}

func (e *InvalidNameError) Error() string {
	return fmt.Sprintf("mysqlstore: table name %.40q: %s", e.Name, e.Reason)
}

// names holds the quoted identifiers the store's SQL is built from, once, in
// New: no identifier is ever spliced into SQL unquoted.
type names struct {
	table   string // `t`
	values  string // `t_values`
	fk      string // `t_fk`: named, since InnoDB's default name (t_values_ibfk_1) may be too long
	display string // t, for messages
}

func checkTable(s string) error {
	switch {
	case s == "":
		return &InvalidNameError{Name: s, Reason: "empty"}
	case len(s) > maxTableLen:
		return &InvalidNameError{Name: s, Reason: fmt.Sprintf("%d bytes, at most %d allowed", len(s), maxTableLen)}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$') {
			return &InvalidNameError{Name: s, Reason: fmt.Sprintf("byte %#x at %d is not an ASCII letter, digit, '_' or '$'", c, i)}
		}
	}
	return nil
}

func newNames(cfg *config) (*names, error) {
	if err := checkTable(cfg.table); err != nil {
		return nil, err
	}
	// The alphabet excludes the backtick, so quoting is wrapping.
	return &names{
		table:   "`" + cfg.table + "`",
		values:  "`" + cfg.table + "_values`",
		fk:      "`" + cfg.table + "_fk`",
		display: cfg.table,
	}, nil
}

// ddl returns the schema statements for the configured names, one per
// element (the driver runs one statement per call).
func (n *names) ddl() []string {
	return []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	id        VARBINARY(255)  NOT NULL,
	user_id   VARBINARY(1024) NULL,
	created   BIGINT          NOT NULL,
	last_seen BIGINT          NOT NULL,
	expires   BIGINT          NOT NULL,
	version   BIGINT UNSIGNED NOT NULL,
	moved_to  VARBINARY(255)  NULL,
	sealed    BLOB            NULL,
	attrs     LONGBLOB        NULL,
	PRIMARY KEY (id),
	KEY by_user (user_id),
	KEY by_expiry (expires)
) ENGINE=InnoDB`, n.table),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	id VARBINARY(255)  NOT NULL,
	k  VARBINARY(1024) NOT NULL,
	v  LONGBLOB        NOT NULL,
	PRIMARY KEY (id, k),
	CONSTRAINT %s FOREIGN KEY (id) REFERENCES %s (id) ON DELETE CASCADE
) ENGINE=InnoDB`, n.values, n.fk, n.table),
	}
}

// DDL returns the SQL statements that create the sessions tables, for the
// tables the same options would give [New]: run them, in order, from your
// migrations and pass WithCreateTable(false) to New. They are idempotent (IF
// NOT EXISTS) and use only syntax MySQL 8 and MariaDB 10.11 share.
//
// The first table holds one row per record:
//
//   - id: the record ID (the session manager's is 64 hex digits), the key.
//   - user_id: the user the session is indexed under, NULL for none; an
//     index serves UserSessions and DeleteUser. Binary, so any bytes round
//     trip and comparisons are exact (no collation folds "Bob" into "bob").
//   - created, last_seen, expires: the record's times, in nanoseconds since
//     the Unix epoch (UTC), so that no session or server time zone and no
//     DSN option (parseTime, loc) can shift them; an index on expires serves
//     the reaper.
//   - version: increases with every write.
//   - moved_to, sealed: set on a rotation tombstone (the new ID and the
//     sealed token); NULL on a live session.
//   - attrs: the session's attributes ([store.Record.Attrs]), NULL for none:
//     a version byte, their size as Record.Size counts it (4 bytes,
//     big-endian, so that a write's size check reads it without decoding),
//     then the count and each key and value, length-prefixed, in key order.
//     Binary, so any string round-trips exactly; LONGBLOB, since a BLOB's
//     64 KiB is below the record limit and a longer write would fail (or,
//     outside strict mode, be cut short).
//
// Tables created before session attributes lack the attrs column. New adds
// it (unless WithCreateTable(false), when it refuses the table); migrations
// add it with
//
//	ALTER TABLE sessions ADD COLUMN attrs LONGBLOB NULL
//
// (MariaDB also accepts ADD COLUMN IF NOT EXISTS; MySQL 8 does not).
//
// The second, named after the first with "_values" appended, holds one row
// per value: the record ID, the key and the value's raw bytes. Its foreign
// key deletes a record's values with the record (ON DELETE CASCADE), so that
// deleting a record is one statement.
//
// It returns an *InvalidNameError for an invalid table name.
func DDL(opts ...Option) ([]string, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	n, err := newNames(&cfg)
	if err != nil {
		return nil, err
	}
	return n.ddl(), nil
}

// lockName returns a GET_LOCK name for purpose on the table in the current
// database. Lock names are server-wide and at most 64 characters, so the
// database and table are hashed.
func lockName(purpose, database, table string) string {
	h := fnv.New64a()
	h.Write([]byte(database))
	h.Write([]byte{0})
	h.Write([]byte(table))
	return fmt.Sprintf("tether:%s:%016x", purpose, h.Sum64())
}

// packetSlack is what a value's packet carries besides the value: the
// statement, the ID and the key.
const packetSlack = 8 << 10

// PacketTooSmallError is returned by [New] when the server's
// max_allowed_packet is too small for the largest record the store accepts,
// and by writes that the server refused for their packet size.
type PacketTooSmallError struct {
	MaxAllowedPacket int64 // the server's, in bytes; 0 if unknown
	MaxRecordSize    int   // the store's limit
}

func (e *PacketTooSmallError) Error() string {
	if e.MaxAllowedPacket == 0 {
		return fmt.Sprintf("mysqlstore: the server refused a packet larger than its max_allowed_packet: raise max_allowed_packet above the record limit (%d bytes) plus %d, or lower WithMaxRecordSize", e.MaxRecordSize, packetSlack)
	}
	return fmt.Sprintf("mysqlstore: the server's max_allowed_packet (%d bytes) is smaller than the record limit (%d bytes) plus %d: raise max_allowed_packet or lower WithMaxRecordSize", e.MaxAllowedPacket, e.MaxRecordSize, packetSlack)
}

// setupTable creates the tables if configured to, checks that they have the
// expected columns and that max_allowed_packet admits the largest record,
// and returns the name of the reaper's lock.
func setupTable(ctx context.Context, db *sql.DB, cfg *config, n *names) (string, error) {
	var database sql.NullString
	var packet int64
	if err := db.QueryRowContext(ctx, "SELECT DATABASE(), @@max_allowed_packet").Scan(&database, &packet); err != nil {
		return "", fmt.Errorf("mysqlstore: %w", err)
	}
	if !database.Valid {
		return "", errors.New("mysqlstore: the connection has no current database: name one in the DSN")
	}
	if packet < int64(cfg.maxRecordSize)+packetSlack {
		return "", &PacketTooSmallError{MaxAllowedPacket: packet, MaxRecordSize: cfg.maxRecordSize}
	}
	if cfg.createTable {
		if err := createTables(ctx, db, lockName("ddl", database.String, cfg.table), n); err != nil {
			return "", fmt.Errorf("mysqlstore: create table %s: %w", n.display, err)
		}
	}
	// Reading every column the store uses catches a table of another shape
	// now rather than at the first request.
	for _, q := range []string{
		"SELECT id, user_id, created, last_seen, expires, version, moved_to, sealed, attrs FROM " + n.table + " LIMIT 0",
		"SELECT id, k, v FROM " + n.values + " LIMIT 0",
	} {
		rows, err := db.QueryContext(ctx, q)
		if err == nil {
			err = rows.Close()
		}
		if err != nil {
			return "", fmt.Errorf("mysqlstore: table %s is missing or does not have the expected columns (create it with the statements of mysqlstore.DDL, or use WithCreateTable(true)): %w", n.display, err)
		}
	}
	return lockName("reap", database.String, cfg.table), nil
}

// createTables runs the DDL under a named lock on one connection. CREATE
// TABLE IF NOT EXISTS is safe against concurrent creators in InnoDB, but the
// two statements are not one: the lock makes nodes that start together
// create them one after the other, so none reads a half-made schema.
func createTables(ctx context.Context, db *sql.DB, lock string, n *names) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	wait := 10 // seconds; GET_LOCK's own bound, below the ctx's
	if d, ok := ctx.Deadline(); ok {
		wait = max(1, int(time.Until(d).Seconds()))
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", lock, wait).Scan(&got); err != nil {
		return err
	}
	if got.Int64 != 1 {
		return errors.New("timed out waiting for another node creating it (GET_LOCK)")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", lock)
	for _, stmt := range n.ddl() {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return addAttrs(ctx, conn, n)
}

// addAttrs adds the attrs column to a sessions table created before session
// attributes, under createTables' lock. It looks first rather than running
// MariaDB's ADD COLUMN IF NOT EXISTS every time: MySQL 8 lacks that syntax,
// and an ALTER TABLE waits for the table's metadata lock, behind every open
// transaction on it, and every request waits behind the ALTER. A nullable
// column at the end is an instant change in MariaDB 10.3+ and MySQL 8.0.12+.
func addAttrs(ctx context.Context, conn *sql.Conn, n *names) error {
	var has int
	err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'attrs'`, n.display).Scan(&has)
	if err != nil || has > 0 {
		return err
	}
	_, err = conn.ExecContext(ctx, "ALTER TABLE "+n.table+" ADD COLUMN attrs LONGBLOB NULL")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == errDupFieldName {
		return nil // added meanwhile by a migration that does not take the lock
	}
	return err
}

// errDupFieldName is ER_DUP_FIELDNAME, "Duplicate column name".
const errDupFieldName = 1060
