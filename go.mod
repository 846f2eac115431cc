module github.com/tether-go/tether

go 1.26

require (
	github.com/gorilla/securecookie v1.1.2 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
