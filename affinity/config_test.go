package affinity_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tether-go/tether/affinity"
)

func TestNewRejects(t *testing.T) {
	env := func(v string) affinity.Option {
		return affinity.WithGetenv(func(k string) string {
			if k == "POD_IP" {
				return v
			}
			return ""
		})
	}
	self := affinity.WithSelf("10.0.0.1:80")
	peers := affinity.WithPeers("10.0.0.1:80", "10.0.0.2:80")
	for name, opts := range map[string][]affinity.Option{
		"no peers":           {self, env("")},
		"both peer sources":  {self, peers, affinity.WithPeerDNS("app", 80)},
		"empty peer list":    {self, affinity.WithPeers()},
		"peer without port":  {self, affinity.WithPeers("10.0.0.1")},
		"peer with bad port": {self, affinity.WithPeers("10.0.0.1:0")},
		"self not a peer":    {affinity.WithSelf("10.0.0.9:80"), peers},
		"no self":            {peers, env("")},
		"POD_IP of no peer":  {peers, env("10.0.0.7")},
		"DNS without name":   {self, affinity.WithPeerDNS("", 80)},
		"DNS port":           {self, affinity.WithPeerDNS("app", 70000)},
		"two keys":           {self, peers, affinity.WithClientIP(), affinity.WithCookie(affinity.Cookie{})},
		"bad CIDR":           {self, peers, affinity.WithClientIP("10.0.0.0/33")},
		"bad cookie name":    {self, peers, affinity.WithCookie(affinity.Cookie{Name: "a;b"})},
		"negative max age":   {self, peers, affinity.WithCookie(affinity.Cookie{MaxAge: -time.Second})},
		// Browsers drop these cookies: every request would get a new key.
		"__Host- not Secure":   {self, peers, affinity.WithCookie(affinity.Cookie{Name: "__Host-route"})},
		"__Host- with Domain":  {self, peers, affinity.WithCookie(affinity.Cookie{Name: "__Host-route", Secure: true, Domain: "example.com"})},
		"__Host- path":         {self, peers, affinity.WithCookie(affinity.Cookie{Name: "__Host-route", Secure: true, Path: "/app"})},
		"__Secure- not Secure": {self, peers, affinity.WithCookie(affinity.Cookie{Name: "__Secure-route"})},
		// net/http would leave these attributes out, silently.
		"bad cookie domain":    {self, peers, affinity.WithCookie(affinity.Cookie{Domain: "a;b.example"})},
		"bad cookie path":      {self, peers, affinity.WithCookie(affinity.Cookie{Path: "/a;b"})},
		"negative hold":        {self, peers, affinity.WithLocalSessions(-time.Second)},
		"zero resolve period":  {self, affinity.WithPeerDNS("app", 80), affinity.WithResolveEvery(0)},
		"zero dial timeout":    {self, peers, affinity.WithDialTimeout(0)},
		"nil key func":         {self, peers, affinity.WithKeyFunc(nil)},
		"nil observer":         {self, peers, affinity.WithObserver(nil)},
		"nil logger":           {self, peers, affinity.WithLogger(nil)},
		"nil resolver":         {self, peers, affinity.WithResolver(nil)},
		"self without port":    {affinity.WithSelf("10.0.0.1"), peers},
		"key func and address": {self, peers, affinity.WithKeyFunc(func(*http.Request) (string, bool) { return "", false }), affinity.WithClientIP()},
	} {
		if rt, err := affinity.New(context.Background(), opts...); err == nil {
			rt.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := affinity.New(context.Background(), peers, env("")); !errors.Is(err, affinity.ErrNoSelf) {
		t.Errorf("no self: %v, want ErrNoSelf", err)
	}
}

// TestSelfFromPodIP: POD_IP names this node among static peers, and with
// DNS peers it is this node's address with the DNS port.
func TestSelfFromPodIP(t *testing.T) {
	getenv := affinity.WithGetenv(func(k string) string {
		if k == "POD_IP" {
			return "10.0.0.2"
		}
		return ""
	})
	rt, err := affinity.New(context.Background(), affinity.WithPeers("10.0.0.1:80", "10.0.0.2:80"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	if rt.Self() != "10.0.0.2:80" {
		t.Fatalf("self %q", rt.Self())
	}
	rt, err = affinity.New(context.Background(), affinity.WithPeerDNS("peers.invalid", 8080), getenv,
		affinity.WithResolver(staticResolver{"10.0.0.1", "10.0.0.2"}))
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	if rt.Self() != "10.0.0.2:8080" {
		t.Fatalf("self %q", rt.Self())
	}
}

type staticResolver []string

func (s staticResolver) LookupHost(context.Context, string) ([]string, error) { return s, nil }
