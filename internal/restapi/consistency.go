package restapi

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// Read-your-writes.
//
// Reads (GET /triggers and GET /triggers/{id}) are served from the
// manager's informer cache, which trails the API server by the latency of
// a watch event. So that a client that has just written sees its write on
// its next read, a write is answered only once the cache shows it: after a
// create, update or patch the handler polls the cache until it holds the
// object at the written resourceVersion or a later one (compared with
// apimachinery's resourceversion.CompareResourceVersion, falling back to
// equality for versions that are not plain integers); after a delete, until the object is gone from it (or is a
// new object of the same name, or is terminating). Every read after a 2xx
// response, by any client and on this replica, then sees the write.
//
// Waiting in the write is preferred to reading through the API server for
// a while after a write: it keeps every read on the cache and makes the
// guarantee hold for every client, not only the writer. The wait is
// bounded by Options.CacheSyncTimeout; a write whose cache update is later
// than that is still answered with success (it happened), and logged.
// Other replicas of the operator have caches of their own: a client should
// stick to one replica (or tolerate the watch latency) across replicas.

// cachePollInterval is how often the cache is checked after a write.
const cachePollInterval = 5 * time.Millisecond

// awaitWritten waits until the cache holds the written object at its
// resourceVersion or later.
func (s *Server) awaitWritten(ctx context.Context, written *triggersv1alpha1.MilestoneTrigger) {
	key, rv := client.ObjectKeyFromObject(written), written.ResourceVersion
	s.awaitCache(ctx, key, "write", func(cached *triggersv1alpha1.MilestoneTrigger, err error) bool {
		if err != nil {
			return false
		}
		cmp, err := resourceversion.CompareResourceVersion(cached.ResourceVersion, rv)
		if err != nil {
			return cached.ResourceVersion == rv
		}
		return cmp >= 0
	})
}

// awaitDeleted waits until the cache no longer holds the deleted object.
func (s *Server) awaitDeleted(ctx context.Context, key types.NamespacedName, uid types.UID) {
	s.awaitCache(ctx, key, "delete", func(cached *triggersv1alpha1.MilestoneTrigger, err error) bool {
		if err != nil {
			return apierrors.IsNotFound(err)
		}
		return cached.UID != uid || cached.DeletionTimestamp != nil
	})
}

func (s *Server) awaitCache(ctx context.Context, key types.NamespacedName, what string,
	done func(*triggersv1alpha1.MilestoneTrigger, error) bool) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CacheSyncTimeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, cachePollInterval, true, func(ctx context.Context) (bool, error) {
		cached := &triggersv1alpha1.MilestoneTrigger{}
		err := s.opts.Cache.Get(ctx, key, cached)
		if err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		return done(cached, err), nil
	})
	if err != nil {
		log.FromContext(ctx).Info("The cache did not show a "+what+" in time; a read right after it may not see it",
			"trigger", key.Name, "timeout", s.opts.CacheSyncTimeout.String(), "error", err.Error())
	}
}
