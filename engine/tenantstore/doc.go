// Package tenantstore keeps the tenant of a cluster of replicas in NATS
// JetStream, with its history, and the hook modules it runs.
//
// A tenant is stored in parts (tenant.Split): the base (everything but
// the long lists) and runs of about 256 entries of each list (APIs,
// clients, grants, roles, users), each part a value of the parts bucket
// under its SHA-256. A revision is one small value listing its parts, the
// key "revision" of the revisions bucket, whose history (64 values) is
// the tenant's history; writing it is the one atomic step of a push, done
// with a compare-and-swap on the revision the pusher read. So no value is
// near NATS's max_payload whatever the tenant's size, a push writes only
// the parts that changed, and a replica fetches only those.
//
// Hook modules are in an object store, named by their SHA-256
// ("sha256:<hex>"), with names as links. A replica fetches the modules of
// a revision, and compiles them, before it swaps the revision in.
//
// Store is what the command line uses (push, pull, history, diff,
// rollback, hook push); Follower is what a replica runs. The layout and
// its reasons are in docs/design.md, "The tenant in the cluster".
package tenantstore
