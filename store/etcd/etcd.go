// Package etcd is the distributed Store backend: several tokenwright
// replicas share one etcd cluster.
//
// Reads are served from an in-memory mirror of the key prefix that a watch
// keeps coherent, so the token endpoint rarely waits for the network, and a
// change made through any replica (a revocation) reaches every other
// replica as fast as etcd delivers the watch event. The mirror's revision is
// that of the last event applied, never of a progress notification (see
// watchLoop). Single-record reads are served from the mirror only while it
// holds a proof of freshness at most FreshnessBound old, and from etcd with
// a linearizable read otherwise (see prove and viewGet).
//
// Every write is one etcd transaction that compares the mod revision of
// every record it read (and the absence of every unique name it claims)
// with what the mirror showed: if another replica got there first the
// transaction fails, the mirror catches up and the update closure runs
// again. A closure that decides not to write (not found, already exists) is
// confirmed the same way by a read-only transaction. Every transaction also
// writes a marker key under the prefix; after its own write a replica waits
// until its mirror has applied the marker's event, so a client always reads
// what it just wrote.
//
// A transaction that gets no answer is resent; the marker makes the resend
// idempotent, and if no send is answered it settles whether the write
// committed, so that a committed write is never answered as a failure nor
// a failure followed by a late commit (see atomic and settle).
//
// When etcd loses quorum, writes fail with store.ErrUnavailable while reads
// keep being served from the mirror for Options.MaxStaleness after the last
// successful proof of freshness (on the monotonic clock); after that reads
// fail too, because a revocation made meanwhile could not have been seen.
//
// Audit events are not mirrored (they are never on the hot path): they are
// read from etcd directly.
package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/records"
)

// Record families: each record lives at PREFIX + family + "/" + id. The
// records' families are store/records' (which says what each holds).
const (
	famAccount = string(records.Accounts)
	famUser    = string(records.Users)
	famName    = string(records.Names)
	famEmail   = string(records.Emails)
	famKey     = string(records.Keys)
	famPATName = string(records.TokenNames)
	famSigning = string(records.SigningKeys)
	famRevoked = string(records.Revoked)
	famSession = string(records.Sessions)
	famFedRule = string(records.FederationRules)
	famForeign = string(records.ForeignTokens)
	famTicket  = string(records.TLSTicketKeys)
	famAudit   = "audit" // not mirrored
	famLock    = "lock"  // concurrency mutexes, not mirrored
	famMeta    = "meta"
)

// Options configure Open.
type Options struct {
	Endpoints []string
	// Prefix under which every key is stored; default "/tokenwright/".
	Prefix string
	// TLS, when set, is used for client connections (see LoadTLS).
	TLS *tls.Config
	// DialTimeout bounds the initial connection; default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds every write and linearizable read, so that a
	// cluster without quorum yields ErrUnavailable instead of a hang;
	// default 5s.
	RequestTimeout time.Duration
	// MaxStaleness is how long reads are served from the mirror after the
	// last successful contact with a quorum; default 5m.
	MaxStaleness time.Duration
	// ProbeInterval is how often quorum contact is checked; default 1s.
	ProbeInterval time.Duration
	// reloadPage, when set (tests only), replaces the default reloadPage;
	// afterPage, when set (tests only), is called after each page reload
	// reads of a range that has more.
	reloadPage int
	afterPage  func()
	// MaxTxnOps splits bulk writes that need not be atomic (usage,
	// pruning) into transactions of at most this many operations; it must
	// not exceed etcd's --max-txn-ops (default 128).
	MaxTxnOps int
}

func (o *Options) defaults() {
	if o.Prefix == "" {
		o.Prefix = "/tokenwright/"
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.MaxStaleness == 0 {
		o.MaxStaleness = 5 * time.Minute
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = time.Second
	}
	if o.MaxTxnOps == 0 {
		o.MaxTxnOps = 100
	}
}

// LoadTLS builds a client TLS configuration from PEM files: ca verifies the
// etcd servers, cert and key (both or neither) authenticate this client.
func LoadTLS(ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("etcd.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd.tls.ca: %s holds no PEM certificate", ca)
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("etcd.tls: cert and key must be given together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("etcd.tls.cert/key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// entry is one mirrored record.
type entry struct {
	val string // the stored value, compacted: read it with value()
	rev int64  // mod revision
	// owner is the owner index entry of a key (nil for other records).
	owner *ownerSet
}

// value is the record as stored in etcd.
func (e entry) value() []byte { return expand(e.val) }

// Store is the etcd implementation of store.Store and store.Locker.
type Store struct {
	// The records' reads and writes (their rules are store/records'):
	// the writes run through atomic, the reads through readRecord and
	// listRecords (txn.go).
	records.Reader
	records.Writer
	// decoded serves GetKey, GetServiceAccount and GetUser (decoded.go).
	decoded decodedCaches
	cli     *clientv3.Client
	opts    Options

	mu sync.RWMutex
	mirror
	// rev is the revision of the last event applied (or of the snapshot
	// a reload read): every change under the prefix up to rev is in the
	// mirror. Never a progress notification's revision (see watchLoop).
	rev     int64
	advance chan struct{} // closed and replaced when rev moves

	watchCtx    context.Context
	stop        context.CancelFunc
	watchMu     sync.Mutex
	cancelWatch context.CancelFunc // ends the current watch (self-healing)
	streamCtx   context.Context    // keys the current watch's stream
	done        sync.WaitGroup
	signing     chan struct{}
	// keyFollowers hear of every change of a key the watch applies
	// (keyfeed.go).
	keyFollowers store.KeyFollowers

	// epoch anchors the monotonic clock of now(); proven is the now() at
	// which the newest successful proof started (see prove).
	epoch  time.Time
	proven atomic.Int64
	// lastQuorum is the now() of the last answer from a quorum.
	lastQuorum atomic.Int64
	proofReq   chan struct{}
	proofMu    sync.Mutex
	proofDone  chan struct{}

	auditMu   sync.Mutex
	lastAudit int64

	// lease is the lease new markers are attached to, granted at leaseAt
	// (see markerLease); 0 when there is none.
	leaseMu sync.Mutex
	lease   clientv3.LeaseID
	leaseAt time.Time

	// sendHook, when set (tests only), replaces commitTxn's send.
	sendHook atomic.Pointer[sendFunc]
	// applyHold, when set (tests only), holds the watch's events until
	// the channel is closed.
	applyHold atomic.Pointer[chan struct{}]
}

type sendFunc func(ctx context.Context, cmps []clientv3.Cmp, ops []clientv3.Op, marker string) (*clientv3.TxnResponse, error)

var (
	_ store.Store   = (*Store)(nil)
	_ store.Locker  = (*Store)(nil)
	_ store.Watcher = (*Store)(nil)
)

// Open connects, loads the prefix into memory and starts the watch.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.defaults()
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		TLS:                  opts.TLS,
		Logger:               zap.NewNop(),
		Context:              context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connecting to %s: %w", strings.Join(opts.Endpoints, ","), unavailable(err))
	}
	wctx, stop := context.WithCancel(context.Background())
	s := &Store{cli: cli, opts: opts, advance: make(chan struct{}), stop: stop,
		watchCtx: clientv3.WithRequireLeader(wctx), signing: make(chan struct{}, 1),
		epoch: time.Now(), proofReq: make(chan struct{}, 1), proofDone: make(chan struct{})}
	s.Reader = records.NewReader(s.readRecord, s.listRecords)
	s.Writer = records.NewWriter(s.update)
	if err := s.checkFormat(ctx); err != nil {
		stop()
		_ = cli.Close()
		return nil, err
	}
	start := s.now()
	if err := s.reload(ctx); err != nil {
		stop()
		_ = cli.Close()
		return nil, err
	}
	s.markProven(start) // the reload was a linearizable read of everything
	s.lastQuorum.Store(int64(start))
	s.done.Go(s.watchLoop)
	s.done.Go(s.probeLoop)
	s.done.Go(s.proofLoop)
	return s, nil
}

// checkFormat refuses a prefix stamped with a stored format this build
// cannot read (*store.FormatError), and stamps one from before stamps
// (format 0: the layout is format 1's, so the stamp is the whole
// migration). The stamp is created only if absent, so replicas starting
// together agree; a later format adds its migration step here.
func (s *Store) checkFormat(ctx context.Context) error {
	k := s.key(famMeta, "format")
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(store.FormatStamp()))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd: reading the stored format of %s: %w", s.opts.Prefix, unavailable(err))
	}
	if resp.Succeeded {
		return nil // stamped now (a new prefix, or one from before stamps)
	}
	var stamp []byte
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		stamp = kvs[0].Value
	}
	_, err = store.ParseFormat("etcd prefix "+s.opts.Prefix, stamp)
	return err
}

// Client exposes the etcd client (tests, migration).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close stops the watch and closes the connection.
func (s *Store) Close() error {
	s.stop()
	s.done.Wait()
	return s.cli.Close()
}

// unavailable maps a client error to store.ErrUnavailable, keeping its text.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, rpctypes.ErrNoSpace) {
		// A write error with a reason, not an outage: the 503 says what
		// an operator has to do.
		return &store.WriteError{Reason: "etcd's storage quota is exceeded (alarm NOSPACE): compact and defragment etcd or raise --quota-backend-bytes, then disarm the alarm (etcdctl alarm disarm)", Err: err}
	}
	if errors.Is(err, rpctypes.ErrTooManyOps) {
		// Not an outage and not the client's fault: the cluster is
		// configured too tight for this change (see the HA docs).
		return fmt.Errorf("etcd: the change needs more operations in one transaction than the cluster's --max-txn-ops allows; raise it: %w", err)
	}
	return fmt.Errorf("etcd: %v: %w", err, store.ErrUnavailable)
}

func (s *Store) key(fam, id string) string { return s.opts.Prefix + fam + "/" + id }

func (s *Store) split(k []byte) (fam, id string, ok bool) {
	rest, ok := strings.CutPrefix(string(k), s.opts.Prefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}
