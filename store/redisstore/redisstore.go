package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/chore"
	"github.com/tether-go/tether/store"
)

var (
	_ store.Store     = (*Store)(nil)
	_ store.Notifier  = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
	_ store.Pinger    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

// ErrClosed is returned by [Store.Notify] once the store is closed.
var ErrClosed = errors.New("redisstore: store closed")

// ErrCorrupt reports a stored record the store cannot read: a hash under the
// store's key that it did not write, or that was changed by hand. Load fails
// loudly rather than read such a record as "no session".
var ErrCorrupt = errors.New("redisstore: corrupt record")

// Store is a [store.Store] on Redis, for a single node, Sentinel (a failover
// client) or Cluster alike. It is safe for concurrent use by multiple
// goroutines and processes. Create it with [New]; [Store.Close] waits for the
// startup check New may have started, and does not close the client.
type Store struct {
	client redis.UniversalClient
	cfg    config

	life   context.Context // ends when Close is called
	kill   context.CancelFunc
	policy *chore.Chore // the check of maxmemory-policy; nil if off

	// refused is the error writes fail with while a server's
	// maxmemory-policy is unsafe (see PolicyError), nil otherwise.
	refused  atomic.Pointer[PolicyError]
	policyMu sync.Mutex
	verdict  string // the last policy check's verdict, for logging changes
	// lfu says that a server evicts by access frequency (volatile-lfu): a
	// commit that gives a session a user then raises its LFU counter.
	lfu atomic.Bool

	// The fast path's counters (see Stats).
	fast, fastDeclined, fastConflicts atomic.Int64
}

// New returns a store that keeps sessions in the Redis client reaches. The
// caller keeps ownership of client and closes it after the store.
//
// Build the client with ContextTimeoutEnabled: true. Without it go-redis
// ignores the deadline of the context for network I/O, so a call to a server
// that stopped answering lasts until the client's ReadTimeout (5 seconds by
// default) instead of the session manager's store timeout; New logs a warning
// when it can see this setting is off.
//
// Unless WithPolicyCheck(false) is given, New starts a goroutine that checks
// the server's maxmemory-policy at once, and returns without waiting for it;
// the first write or Ping after [DefaultPolicyRecheck] has passed checks
// again before it goes on, until Close (no ticker waits in between). While a server's policy
// may evict a user index, writes fail with a [*PolicyError] (see there): New
// cannot return an error, so that is how the store refuses such a server.
func New(client redis.UniversalClient, opts ...Option) *Store {
	cfg := config{
		prefix:        DefaultPrefix,
		maxRecordSize: DefaultMaxRecordSize,
		fastCommitMax: defaultFastCommitMax,
		policyCheck:   true,
		policyRecheck: DefaultPolicyRecheck,
		notify:        true,
		heartbeat:     DefaultHeartbeat,
		now:           time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.channel == "" {
		cfg.channel = cfg.prefix + "invalidate"
	}
	// publish is the channel the scripts publish on; "" publishes nothing.
	if cfg.notify {
		cfg.publish = cfg.channel
	}
	cfg.publishArg = cfg.publish
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	s := &Store{client: client, cfg: cfg}
	s.life, s.kill = context.WithCancel(context.Background())
	if on, known := contextTimeoutEnabled(client); known && !on {
		cfg.logger.Warn("redisstore: the Redis client ignores context deadlines (ContextTimeoutEnabled is false): " +
			"a call to an unresponsive server lasts until the client's read timeout, not the caller's deadline")
	}
	if cfg.policyCheck {
		now := time.Now()
		s.policy = chore.New(cfg.policyRecheck, now.Add(cfg.policyRecheck), func() { s.checkPolicy(s.life) })
		s.policy.Start(now)
	}
	return s
}

// contextTimeoutEnabled reports the client's ContextTimeoutEnabled setting, if
// the client is one of go-redis' own.
func contextTimeoutEnabled(c redis.UniversalClient) (on, known bool) {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled, true
	}
	return false, false
}

// Close stops the policy check and makes running [Store.Notify] calls
// return. It does not close the Redis client, and the
// store's other methods keep working. Close is idempotent and returns nil.
func (s *Store) Close() error {
	s.kill()
	if s.policy != nil {
		s.policy.Close()
	}
	return nil
}

// Ping implements [store.Pinger] with a PING. While writes are refused for
// an unsafe maxmemory-policy it returns that [*PolicyError] instead.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.refusal(ctx); err != nil {
		return err
	}
	return s.wrap(ctx, "ping", s.client.Ping(ctx).Err())
}

func (s *Store) sessionKey(id string) string { return s.cfg.prefix + "s:" + id }
func (s *Store) userKey(user string) string  { return s.cfg.prefix + "u:" + user }

// begin prepares one call: it fails at once with a done context (go-redis
// would otherwise still send the command when ContextTimeoutEnabled is off)
// and applies WithTimeout.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.cfg.timeout > 0 {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
		return ctx, cancel, nil
	}
	return ctx, func() {}, nil
}

// wrap prefixes a network or server error with the operation, and makes it
// match the context's error if the context ended meanwhile: go-redis reports
// a deadline that cut a read short as an i/o timeout.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redisstore: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}
