// Package mysqlstore is a [store.Store] on MySQL 8 or MariaDB 10.11+.
package mysqlstore
