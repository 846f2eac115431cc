module github.com/tether-go/tether/store/mysqlstore

go 1.26.0

require (
	github.com/go-sql-driver/mysql v1.11.0
	github.com/tether-go/tether v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
)

// The root module is developed in this repository; outside it, a tagged
// version replaces this line's target.
replace github.com/tether-go/tether => ../..
