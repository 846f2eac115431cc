package pgstore

import (
	"regexp"
	"strings"
)

// queries are the store's statements, built once for its table. pgx prepares
// and caches each per connection, so a call costs one round trip.
//
// Every statement that changes a record calls pg_notify in the same
// statement, only for rows it changed: the notification is part of the
// write's transaction and is delivered when, and only if, it commits.
type queries struct {
	load, version            string
	create, update, touch    string
	move, delete             string
	state, updateState       string
	userSessions, deleteUser string
	reapBatch, tryLock       string
}

// newVals is the update's new values: Clear, then Delete, then Set, the
// contract's order, in one expression.
const newVals = `(CASE WHEN $3 THEN '{}'::jsonb ELSE vals END - $4::text[]) || $5::jsonb`

// notifyCall matches NOTIFY($n) in the templates below.
var notifyCall = regexp.MustCompile(`NOTIFY\((\$\d+)\)`)

// buildQueries builds the statements for table. With notify off, each
// NOTIFY($n) becomes $n::text, a column the store ignores, so that the
// statements keep their parameters.
func buildQueries(table string, notify bool) queries {
	notifyTo := "pg_notify($1, id)"
	if !notify {
		notifyTo = "$1::text"
	}
	// The templates are expanded before the table name goes in: a table
	// name is any string, NOTIFY(...) included.
	r := strings.NewReplacer("TABLE", table, "NEW_VALS", newVals)
	sql := func(tmpl string) string { return r.Replace(notifyCall.ReplaceAllString(tmpl, notifyTo)) }
	return queries{
		// $1 id, $2 now
		load: sql(`SELECT vals, user_id, created, last_seen, expires, version, moved_to, sealed
FROM TABLE WHERE id = $1 AND expires > $2`),
		version: sql(`SELECT version FROM TABLE WHERE id = $1 AND expires > $2`),

		// $1 id, $2 now, $3 vals, $4 user id, $5 created, $6 last seen,
		// $7 expires, $8 channel. A conflict with an expired row (session or
		// tombstone) replaces it entirely; with a live one it changes
		// nothing and returns no row.
		create: sql(`WITH ins AS (
	INSERT INTO TABLE AS t (id, vals, user_id, created, last_seen, expires, version, moved_to, sealed)
	VALUES ($1, $3::jsonb, nullif($4::text, ''), $5, $6, $7, 1, NULL, NULL)
	ON CONFLICT (id) DO UPDATE SET vals = excluded.vals, user_id = excluded.user_id,
		created = excluded.created, last_seen = excluded.last_seen, expires = excluded.expires,
		version = 1, moved_to = NULL, sealed = NULL
	WHERE t.expires <= $2
	RETURNING t.id, t.version
)
SELECT version, NOTIFY($8) FROM ins`),

		// $1 id, $2 now, $3 clear, $4 delete keys, $5 set (jsonb), $6 set
		// user id?, $7 user id, $8 last seen or NULL to keep, $9 expires or
		// NULL to keep, $10 size limit or NULL when nothing is added, $11
		// channel. The size check repeats the values expression (the
		// WHERE clause cannot see the SET's result) and measures it without
		// serialising it; it only runs when values are added.
		update: sql(`WITH upd AS (
	UPDATE TABLE SET
		vals = NEW_VALS,
		user_id = CASE WHEN $6 THEN nullif($7::text, '') ELSE user_id END,
		last_seen = coalesce($8, last_seen),
		expires = coalesce($9, expires),
		version = version + 1
	WHERE id = $1 AND expires > $2 AND moved_to IS NULL
		AND ($10::bigint IS NULL OR pg_column_size(NEW_VALS) <= $10)
	RETURNING id, version
)
SELECT version, NOTIFY($11) FROM upd`),

		// $1 id, $2 now, $3 last seen, $4 expires, $5 channel
		touch: sql(`WITH upd AS (
	UPDATE TABLE SET last_seen = $3, expires = $4, version = version + 1
	WHERE id = $1 AND expires > $2 AND moved_to IS NULL
	RETURNING id, version
)
SELECT version, NOTIFY($5) FROM upd`),

		// $1 id, $2 now, $3 moved to, $4 sealed, $5 expires, $6 if
		// version, $7 channel
		move: sql(`WITH upd AS (
	UPDATE TABLE SET vals = '{}', user_id = NULL, moved_to = $3, sealed = $4, expires = $5, version = version + 1
	WHERE id = $1 AND expires > $2 AND moved_to IS NULL AND version = $6
	RETURNING id, version
)
SELECT version, NOTIFY($7) FROM upd`),

		// $1 id, $2 channel
		delete: sql(`WITH del AS (DELETE FROM TABLE WHERE id = $1 RETURNING id)
SELECT NOTIFY($2) FROM del`),

		// Why a write found no row to change, read after it in a fresh
		// snapshot. $1 id, $2 now.
		state: sql(`SELECT version, moved_to, sealed FROM TABLE WHERE id = $1 AND expires > $2`),
		// The same with the size the update's values would have had; the
		// parameters are the update's.
		updateState: sql(`SELECT version, moved_to, sealed, pg_column_size(NEW_VALS)
FROM TABLE WHERE id = $1 AND expires > $2`),

		// $1 user id, $2 now
		userSessions: sql(`SELECT id, created, last_seen, expires FROM TABLE
WHERE user_id = $1 AND expires > $2 AND moved_to IS NULL`),
		// $1 user id, $2 now, $3 channel. Every deleted row is announced;
		// only live sessions are counted.
		deleteUser: sql(`WITH del AS (
	DELETE FROM TABLE WHERE user_id = $1
	RETURNING id, expires > $2 AND moved_to IS NULL AS live
), notified AS (
	SELECT live, NOTIFY($3) FROM del
)
SELECT count(*) FILTER (WHERE live) FROM notified`),

		// $1 expired before, $2 batch size. The batch's IDs are an array, so
		// that the DELETE finds them through the primary key (an IN
		// subquery may be planned as a hash join over the whole table).
		// SKIP LOCKED: a row a commit is changing is not waited for; if it
		// is still expired, the next round takes it.
		reapBatch: sql(`DELETE FROM TABLE WHERE id = ANY(ARRAY(
	SELECT id FROM TABLE WHERE expires <= $1 ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED
))`),
		tryLock: `SELECT pg_try_advisory_xact_lock($1)`,
	}
}
