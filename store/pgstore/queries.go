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

// newVals is an update's new values: Clear, then Delete, then Set, the
// contract's order, in one expression. CLEAR, DEL and SET name the
// statement's parameters.
const newVals = `(CASE WHEN CLEAR THEN '{}'::jsonb ELSE vals END - DEL::text[]) || SET::jsonb`

// valsSize is the size of a values object as [store.Record.Size] counts it:
// key bytes plus the raw (decoded) value bytes. A base64 string of n
// characters holds n/4*3 bytes less one per padding character, so no value
// is decoded.
const valsSize = `(SELECT coalesce(sum(octet_length(e.key) + length(e.value) / 4 * 3
	- CASE WHEN e.value LIKE '%==' THEN 2 WHEN e.value LIKE '%=' THEN 1 ELSE 0 END), 0)
	FROM jsonb_each_text(VALS) AS e)`

// userLen is the raw length of the stored user id (see encodeUserID: an
// escaped one is a marker byte and hex).
const userLen = `CASE WHEN user_id IS NULL THEN 0
	WHEN left(user_id, 1) = chr(1) THEN (octet_length(user_id) - 1) / 2
	ELSE octet_length(user_id) END`

// attrsSize is what the attributes ATTRS (an attrs column or parameter, see
// attrcodec) add to [store.Record.Size]: the encoding's size header, bytes
// 2 to 5, read without decoding the attributes. 0 for NULL.
const attrsSize = `coalesce((get_byte(ATTRS, 1)::bigint << 24) | (get_byte(ATTRS, 2) << 16)
	| (get_byte(ATTRS, 3) << 8) | get_byte(ATTRS, 4), 0)`

// inTime is the late-write check: true while the database's clock has not
// reached the caller's deadline (DL, NULL for none). clock_timestamp() is
// read when the expression runs, not when the statement began.
const inTime = `(DL::timestamptz IS NULL OR clock_timestamp() < DL::timestamptz)`

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
	expand := func(tmpl string, pairs ...string) string {
		return strings.NewReplacer(pairs...).Replace(tmpl)
	}
	sql := func(tmpl string) string {
		return strings.ReplaceAll(notifyCall.ReplaceAllString(tmpl, notifyTo), "TABLE", table)
	}

	// The update's parameters: $3 clear, $4 delete keys, $5 set, $14
	// replace the attributes?, $15 the new ones.
	updVals := expand(newVals, "CLEAR", "$3", "DEL", "$4", "SET", "$5")
	updAttrs := `CASE WHEN $14 THEN $15::bytea ELSE attrs END`
	// Its size: values and user id, the user id being $7 (raw length
	// $13) if it is set ($6), else the stored one. The first test is a
	// cheap upper bound: jsonb spends at least 8 bytes per entry more than
	// Record.Size, and base64 more than the raw bytes, so a record whose
	// jsonb fits fits. Only records near the limit are measured exactly.
	// The attributes count as they are, old or new.
	updUser := `CASE WHEN $6 THEN $13::bigint ELSE ` + userLen + ` END`
	updOther := updUser + ` + ` + expand(attrsSize, "ATTRS", updAttrs)
	updFits := `($10::bigint IS NULL
		OR pg_column_size(` + updVals + `) - 8 + ` + updOther + ` <= $10
		OR ` + expand(valsSize, "VALS", updVals) + ` + ` + updOther + ` <= $10)`

	// Writes to an existing row take its lock first, in a CTE of their
	// own, and check the deadline only once they hold it: a write that
	// waited for the lock (or whose statement arrived late) past its
	// deadline does not apply. (A check in the UPDATE's own WHERE would
	// be evaluated before the wait, and not again unless the row changed
	// meanwhile.)
	gate := func(dl string) string {
		return `locked AS MATERIALIZED (SELECT id FROM TABLE WHERE id = $1 FOR UPDATE),
gate AS (SELECT id FROM locked WHERE ` + expand(inTime, "DL", dl) + `)`
	}

	return queries{
		// $1 id, $2 now
		load: sql(`SELECT vals, user_id, created, last_seen, expires, version, moved_to, sealed, attrs
FROM TABLE WHERE id = $1 AND expires > $2`),
		version: sql(`SELECT version FROM TABLE WHERE id = $1 AND expires > $2`),

		// $1 id, $2 now, $3 vals, $4 user id, $5 created, $6 last seen,
		// $7 expires, $8 channel, $9 deadline, $10 attributes. A conflict with an expired
		// row (session or tombstone) replaces it entirely; with a live one
		// it changes nothing and returns no row. The deadline is checked
		// before a fresh insert and, for a conflict, after the row is
		// locked (ON CONFLICT's WHERE runs under the lock).
		create: sql(`WITH ins AS (
	INSERT INTO TABLE AS t (id, vals, user_id, created, last_seen, expires, version, moved_to, sealed, attrs)
	SELECT $1::text, $3::jsonb, nullif($4::text, ''), $5::timestamptz, $6::timestamptz, $7::timestamptz, 1, NULL, NULL, $10::bytea
	WHERE ` + expand(inTime, "DL", "$9") + `
	ON CONFLICT (id) DO UPDATE SET vals = excluded.vals, user_id = excluded.user_id,
		created = excluded.created, last_seen = excluded.last_seen, expires = excluded.expires,
		version = 1, moved_to = NULL, sealed = NULL, attrs = excluded.attrs
	WHERE t.expires <= $2 AND ` + expand(inTime, "DL", "$9") + `
	RETURNING t.id, t.version
)
SELECT version, NOTIFY($8) FROM ins`),

		// $1 id, $2 now, $3 clear, $4 delete keys, $5 set (jsonb), $6 set
		// user id?, $7 user id, $8 last seen or NULL to keep, $9 expires or
		// NULL to keep, $10 size limit or NULL when nothing is added, $11
		// channel, $12 deadline, $13 the raw length of $7, $14 replace the
		// attributes?, $15 the new attributes (NULL for none), $16 the
		// version step (internal/versionstep). The size check
		// repeats the values expression (the WHERE clause cannot see the
		// SET's result).
		update: sql(`WITH ` + gate("$12") + `, upd AS (
	UPDATE TABLE SET
		vals = ` + updVals + `,
		user_id = CASE WHEN $6 THEN nullif($7::text, '') ELSE user_id END,
		attrs = ` + updAttrs + `,
		last_seen = coalesce($8, last_seen),
		expires = coalesce($9, expires),
		version = version + $16
	WHERE id = (SELECT id FROM gate) AND expires > $2 AND moved_to IS NULL
		AND ` + updFits + `
	RETURNING id, version
)
SELECT version, NOTIFY($11) FROM upd`),

		// $1 id, $2 now, $3 last seen, $4 expires, $5 channel, $6 deadline,
		// $7 the version step
		touch: sql(`WITH ` + gate("$6") + `, upd AS (
	UPDATE TABLE SET last_seen = $3, expires = $4, version = version + $7
	WHERE id = (SELECT id FROM gate) AND expires > $2 AND moved_to IS NULL
	RETURNING id, version
)
SELECT version, NOTIFY($5) FROM upd`),

		// $1 id, $2 now, $3 moved to, $4 sealed, $5 expires, $6 if
		// version, $7 channel, $8 deadline
		move: sql(`WITH ` + gate("$8") + `, upd AS (
	UPDATE TABLE SET vals = '{}', user_id = NULL, attrs = NULL, moved_to = $3, sealed = $4, expires = $5, version = version + 1
	WHERE id = (SELECT id FROM gate) AND expires > $2 AND moved_to IS NULL AND ($6 = 0 OR version = $6)
	RETURNING id, version
)
SELECT version, NOTIFY($7) FROM upd`),

		// $1 id, $2 channel
		delete: sql(`WITH del AS (DELETE FROM TABLE WHERE id = $1 RETURNING id)
SELECT NOTIFY($2) FROM del`),

		// Why a write found no row to change, read after it in a fresh
		// snapshot: whether the deadline has passed, and the row, expired
		// or not (a resent Move recognises its tombstone after it
		// expired). Always one row. $1 id, $2 now, $3 deadline.
		state: sql(`SELECT NOT ` + expand(inTime, "DL", "$3") + `, r.expires > $2, r.version, r.moved_to, r.sealed
FROM (SELECT) AS one LEFT JOIN TABLE AS r ON r.id = $1`),
		// The same with the size the update's result would have had; the
		// parameters are the update's.
		updateState: sql(`SELECT NOT ` + expand(inTime, "DL", "$12") + `, r.expires > $2, r.version, r.moved_to, r.sealed,
	` + expand(valsSize, "VALS", updVals, "user_id", "r.user_id") + ` + ` + expand(updOther, "user_id", "r.user_id", "attrs", "r.attrs") + `
FROM (SELECT $1::text AS id, $3::bool, $4::text[], $5::jsonb, $6::bool, $7::text, $8::timestamptz, $9::timestamptz,
	$10::bigint, $11::text, $13::bigint, $14::bool, $15::bytea) AS p
LEFT JOIN TABLE AS r ON r.id = p.id`),

		// $1 user id, $2 now. The attributes, not the values.
		userSessions: sql(`SELECT id, created, last_seen, expires, attrs FROM TABLE
WHERE user_id = $1 AND expires > $2 AND moved_to IS NULL`),
		// $1 user id, $2 now, $3 channel, $4 now less reapGrace. The user's
		// sessions that may still be live by another node's clock (expiring
		// after $4: as the reaper, DeleteUser leaves a node whose clock runs
		// ahead no right to delete them) become tombstones that forward
		// nothing, as Move leaves a logout's: no values, user id or
		// attributes, moved_to their own ID, no sealed token, the next
		// version, their times kept. Only those live by $2 are counted. The
		// user's rows expired before $4 are deleted. A rotation's tombstone, which keeps the user id
		// until it expires, is left as it is: an old token's request in
		// flight follows it to the session, ended here, and drops its
		// changes, where a deleted tombstone would read as an expired
		// session and let a write-only request start a new one. The two
		// conditions exclude each other, so no row is both ended and
		// deleted (a statement must not change a row twice): each
		// data-modifying CTE takes only the rows that match it in the
		// statement's snapshot, and a row a concurrent write changed first
		// is checked again, in its new version, once its lock is held
		// (READ COMMITTED), against its own CTE's condition only. So one
		// moved or deleted meanwhile, or given another user, is left
		// alone; one touched or updated meanwhile is ended with its new
		// expires and version; an expired one re-created meanwhile (live
		// again) is not deleted. Every changed row is announced; only the
		// ended ones are counted.
		deleteUser: sql(`WITH ended AS (
	UPDATE TABLE SET vals = '{}', user_id = NULL, attrs = NULL, moved_to = id, sealed = NULL, version = version + 1
	WHERE user_id = $1 AND expires > $4 AND moved_to IS NULL
	RETURNING id, expires > $2 AS live
), gone AS (
	DELETE FROM TABLE WHERE user_id = $1 AND expires <= $4
	RETURNING id
), changed AS (
	SELECT id, live FROM ended UNION ALL SELECT id, false FROM gone
), notified AS (
	SELECT live, NOTIFY($3) FROM changed
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
