package mysqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// stmts are the store's statements, prepared once in New. database/sql
// prepares each again on every connection that runs it, once, so a call
// costs one round trip per statement.
type stmts struct {
	load, version, delete         *sql.Stmt
	lockRow, final                *sql.Stmt
	insertRow, updateRow, moveRow *sql.Stmt
	deleteRow                     *sql.Stmt
	clearValues, deleteValue      *sql.Stmt
	touch, state                  *sql.Stmt
	userSessions                  *sql.Stmt
	endUser, countEnded           *sql.Stmt
	clearUser, releaseUser        *sql.Stmt
	purgeUser                     *sql.Stmt
	all                           []*sql.Stmt

	db     *sql.DB
	values string
	mu     sync.Mutex
	set    [maxSetBatch + 1]*sql.Stmt // set[n] sets n values, prepared when first needed
}

// maxSetBatch is the most values one INSERT sets; a change with more is
// sent in several.
const maxSetBatch = 16

// setValues returns the statement that sets n values (1 <= n <=
// maxSetBatch): id, k, v for each. VALUES(v) rather than MySQL 8.0.19's row
// alias (AS new), which MariaDB lacks; MySQL 8 accepts VALUES() with a
// deprecation note.
func (st *stmts) setValues(ctx context.Context, n int) (*sql.Stmt, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if p := st.set[n]; p != nil {
		return p, nil
	}
	q := "INSERT INTO " + st.values + " (id, k, v) VALUES (?, ?, ?)" +
		strings.Repeat(", (?, ?, ?)", n-1) + " ON DUPLICATE KEY UPDATE v = VALUES(v)"
	p, err := st.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	st.set[n] = p
	st.all = append(st.all, p)
	return p, nil
}

// serverNow is the server's clock, read when the expression is evaluated
// (SYSDATE, unlike NOW, is not fixed at the statement's start), in
// microseconds since the epoch. UNIX_TIMESTAMP undoes the session time
// zone's conversion.
const serverNow = `UNIX_TIMESTAMP(SYSDATE(6)) * 1000000`

// attrsSize is what the attributes of the row t add to [store.Record.Size]:
// their encoding's size header (see attrcodec), bytes 2 to 5, read without
// decoding them. 0 for none.
const attrsSize = `COALESCE(CAST(CONV(HEX(SUBSTRING(t.attrs, 2, 4)), 16, 10) AS UNSIGNED), 0)`

// The statements' text, with {T} for the sessions table and {V} for the
// values table. Times are nanoseconds since the epoch; deadlines (DL) microseconds,
// NULL for none.
var queryText = map[string]string{
	// id, now. The join repeats the record's columns on every value's row:
	// the attributes, which may be long, come on one row only (which one
	// is the server's choice).
	"load": `SELECT s.user_id, s.created, s.last_seen, s.expires, s.version, s.moved_to, s.sealed,
	IF(ROW_NUMBER() OVER () = 1, s.attrs, NULL), v.k, v.v
FROM {T} AS s LEFT JOIN {V} AS v ON v.id = s.id
WHERE s.id = ? AND s.expires > ?`,
	"version": `SELECT version FROM {T} WHERE id = ? AND expires > ?`,
	"delete":  `DELETE FROM {T} WHERE id = ?`,

	// The row a transaction writes, locked: every writer of a record locks
	// its row first, so that the record's writes, values included, are
	// serialised. id
	"lockRow": `SELECT user_id, expires, version, moved_to, sealed FROM {T} WHERE id = ? FOR UPDATE`,
	// A transaction's last statement before COMMIT, on a row it wrote: the
	// record's version and user id's length, its values' and attributes'
	// size, and whether the server's clock has passed the deadline. dl, id
	"final": `SELECT t.version, COALESCE(LENGTH(t.user_id), 0),
	(SELECT COALESCE(SUM(LENGTH(v.k) + LENGTH(v.v)), 0) FROM {V} AS v WHERE v.id = t.id) + ` + attrsSize + `,
	` + serverNow + ` >= ?
FROM {T} AS t WHERE t.id = ?`,

	// id, user id, created, last seen, expires, attributes
	"insertRow": `INSERT INTO {T} (id, user_id, created, last_seen, expires, version, moved_to, sealed, attrs) VALUES (?, ?, ?, ?, ?, 1, NULL, NULL, ?)`,
	// An Update's first statement, which takes the row's lock: it changes
	// nothing, and the transaction looks at the row to say why, if the
	// record is missing, expired or a tombstone. set user id?, user id,
	// set attributes?, attributes, last seen or NULL to keep, expires or
	// NULL to keep, the version step (internal/versionstep), id, now
	"updateRow": `UPDATE {T} SET user_id = IF(?, ?, user_id), attrs = IF(?, ?, attrs), last_seen = COALESCE(?, last_seen),
	expires = COALESCE(?, expires), version = version + ?
WHERE id = ? AND expires > ? AND moved_to IS NULL`,
	// moved to, sealed, expires, version, id
	"moveRow":   `UPDATE {T} SET user_id = NULL, attrs = NULL, moved_to = ?, sealed = ?, expires = ?, version = ? WHERE id = ?`,
	"deleteRow": `DELETE FROM {T} WHERE id = ?`,

	"clearValues": `DELETE FROM {V} WHERE id = ?`,
	"deleteValue": `DELETE FROM {V} WHERE id = ? AND k = ?`,

	// Touch is one statement: InnoDB evaluates the WHERE clause on the row
	// once it holds the row's lock, so the deadline is checked after any
	// wait. last seen, expires, version step, id, now, dl, dl
	"touch": `UPDATE {T} SET last_seen = ?, expires = ?, version = version + ?
WHERE id = ? AND expires > ? AND moved_to IS NULL AND (? IS NULL OR ` + serverNow + ` < ?)`,
	// Why a write changed nothing. dl, id
	"state": `SELECT expires, version, moved_to, sealed, ` + serverNow + ` >= ? FROM {T} WHERE id = ?`,

	// user id, now. The attributes, not the values.
	"userSessions": `SELECT id, created, last_seen, expires, attrs FROM {T} WHERE user_id = ? AND expires > ? AND moved_to IS NULL`,
	// DeleteUser's statements, in its transaction, in this order (see
	// Store.DeleteUser). endUser turns the user's sessions that expire after
	// the time it is given (now less the reap grace) into tombstones that
	// forward nothing, as moveRow leaves a logout's (moved_to their own ID,
	// an empty sealed token, no attributes, the next version, their times
	// kept), but keeps their user id for now: it is how the next three
	// statements find them, and no other row of the user is a tombstone
	// (Move clears the user id). countEnded counts those that were live by
	// now; clearUser deletes their values; releaseUser takes them out of the
	// user index. purgeUser deletes the user's expired rows, values by the
	// cascade. user id, now less the reap grace
	"endUser": `UPDATE {T} SET attrs = NULL, moved_to = id, sealed = '', version = version + 1
WHERE user_id = ? AND expires > ? AND moved_to IS NULL`,
	// user id, now
	"countEnded": `SELECT COUNT(*) FROM {T} WHERE user_id = ? AND moved_to IS NOT NULL AND expires > ?`,
	// user id
	"clearUser": `DELETE v FROM {V} AS v JOIN {T} AS t ON t.id = v.id WHERE t.user_id = ? AND t.moved_to IS NOT NULL`,
	// user id
	"releaseUser": `UPDATE {T} SET user_id = NULL WHERE user_id = ? AND moved_to IS NOT NULL`,
	// user id, now
	"purgeUser": `DELETE FROM {T} WHERE user_id = ? AND expires <= ?`,
}

func prepare(ctx context.Context, db *sql.DB, n *names) (*stmts, error) {
	st := &stmts{db: db, values: n.values}
	fields := map[string]**sql.Stmt{
		"load": &st.load, "version": &st.version, "delete": &st.delete,
		"lockRow": &st.lockRow, "final": &st.final,
		"insertRow": &st.insertRow, "updateRow": &st.updateRow, "moveRow": &st.moveRow,
		"deleteRow":   &st.deleteRow,
		"clearValues": &st.clearValues, "deleteValue": &st.deleteValue,
		"touch": &st.touch, "state": &st.state,
		"userSessions": &st.userSessions,
		"endUser":      &st.endUser, "countEnded": &st.countEnded, "clearUser": &st.clearUser,
		"releaseUser": &st.releaseUser, "purgeUser": &st.purgeUser,
	}
	r := strings.NewReplacer("{T}", n.table, "{V}", n.values)
	for name, field := range fields {
		p, err := db.PrepareContext(ctx, r.Replace(queryText[name]))
		if err != nil {
			st.close()
			return nil, err
		}
		*field = p
		st.all = append(st.all, p)
	}
	return st, nil
}

func (st *stmts) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.all {
		p.Close()
	}
}
