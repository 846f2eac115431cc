package store_test

import (
	"fmt"

	"github.com/tether-go/tether/store"
)

// A backend that merges in Go applies a request's change to the stored
// values with Change.Apply, which returns new Values and leaves the stored
// ones as they were.
func ExampleChange_Apply() {
	stored := store.ValuesOf(map[string][]byte{"cart": []byte(`["sku-1"]`), "theme": []byte(`"dark"`)})
	c := store.Change{
		Mode:   store.Update,
		Delete: []string{"theme"},
		Set:    map[string][]byte{"cart": []byte(`["sku-1","sku-2"]`), "lang": []byte(`"en"`)},
	}
	next := c.Apply(stored)
	fmt.Println(next)
	fmt.Println(stored)
	// Output:
	// map[cart:["sku-1","sku-2"] lang:"en"]
	// map[cart:["sku-1"] theme:"dark"]
}

// A backend that decodes records from its own format builds their values
// with a ValuesBuilder, in any order; Lookup tells an empty value from a
// missing key.
func ExampleValuesBuilder() {
	var b store.ValuesBuilder
	b.Add("b", []byte("2"))
	b.Add("a", []byte("1"))
	b.Add("empty", nil)
	v := b.Values()
	for k, val := range v.All() {
		fmt.Printf("%s=%q\n", k, val)
	}
	_, ok := v.Lookup("empty")
	_, missing := v.Lookup("c")
	fmt.Println(ok, missing)
	// Output:
	// a="1"
	// b="2"
	// empty=""
	// true false
}
