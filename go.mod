module github.com/tether-go/tether

go 1.26
