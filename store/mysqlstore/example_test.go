package mysqlstore_test

import (
	"context"
	"database/sql"
	"log"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/tether-go/tether/store/mysqlstore"
)

// The caller opens the *sql.DB with the database in the DSN; the store
// creates its tables (unless WithCreateTable(false)) and runs a reaper until
// Close.
func Example() {
	db, err := sql.Open("mysql", "app:secret@tcp(127.0.0.1:3306)/app")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(32)
	db.SetConnMaxLifetime(5 * time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := mysqlstore.New(ctx, db,
		mysqlstore.WithTable("sessions"),
		mysqlstore.WithReapInterval(10*time.Minute),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// Pass s to session.New, or wrap it in a hybridstore first.
}

// For migrations run by other means: the statements to run, in order.
func ExampleDDL() {
	stmts, err := mysqlstore.DDL(mysqlstore.WithTable("sessions"))
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range stmts {
		_ = q // run it in your migration tool
	}
}
