package operator

import "time"

// Config is the operator's settings: main.go fills it from the command
// line (each field is the flag of that name; --help says what each does),
// tests fill it themselves.
type Config struct {
	MetricsAddr          string
	SecureMetrics        bool
	EnableHTTP2          bool
	ProbeAddr            string
	PprofAddr            string
	EnableLeaderElection bool
	LeaderElectionNS     string

	APIAddr        string
	APICertFile    string
	APIKeyFile     string
	DataDir        string
	NATSURL        string
	StreamSync     string
	StreamListen   string
	StreamReplicas int

	StreamTLSCertFile     string
	StreamTLSKeyFile      string
	StreamTLSClientCAFile string
	APITokenAudiences     string
	AuthFailureLimit      int
	AuthFailureWindow     time.Duration

	SMTPAddr     string
	SMTPFrom     string
	SMTPStartTLS string
	DenyCIDRs    string
	AllowCIDRs   string

	RequireReferenceableSecrets bool

	HistoryRetention time.Duration
	StreamMaxBytes   string
	OUEventsPerSec   float64
	OUEventsBurst    int
	StatusInterval   time.Duration

	DeliveryConcurrency    int
	DeliveryPerDestination int

	Partitions             int
	LeadCacheSize          int
	ReplicaID              string
	PartitionLeaseDuration time.Duration

	BacktestMaxEvents   int
	BacktestTimeLimit   time.Duration
	BacktestConcurrency int
}
