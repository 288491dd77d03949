package restapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	triggersv1alpha1 "github.com/leadvibe/milestone-triggers-operator/api/v1alpha1"
)

// The handlers of /triggers. Each runs after authentication and
// authorization, with the caller and its OU, and returns an error for the
// shim to write.

// generatedNamePrefix starts the id of every trigger created through the
// REST API; the API server appends a random suffix.
const generatedNamePrefix = "trigger-"

// listTriggers serves GET /triggers: the OU's triggers, oldest first. The
// cache's objects are read in place, without the deep copy of each that a
// List makes by default: the handler only reads them.
func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request, c Caller) error {
	var list triggersv1alpha1.MilestoneTriggerList
	if err := s.opts.Cache.List(r.Context(), &list, client.InNamespace(c.OU), client.UnsafeDisableDeepCopy); err != nil {
		return fromKube(err, c.OU, "")
	}
	items := make([]*triggersv1alpha1.MilestoneTrigger, 0, len(list.Items))
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp == nil {
			items = append(items, &list.Items[i])
		}
	}
	slices.SortFunc(items, func(a, b *triggersv1alpha1.MilestoneTrigger) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	out := TriggerList{Triggers: make([]Trigger, 0, len(items))}
	for _, mt := range items {
		out.Triggers = append(out.Triggers, toTrigger(mt))
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// getTrigger serves GET /triggers/{id}.
func (s *Server) getTrigger(w http.ResponseWriter, r *http.Request, c Caller) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound(c.OU, id)
	}
	mt, err := readTrigger(r.Context(), s.opts.Cache, c.OU, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, toTrigger(mt))
	return nil
}

// readTrigger reads trigger id of OU ou through reader (the informer
// cache): a trigger being deleted is not found, and a Kubernetes error is
// the REST API's.
func readTrigger(ctx context.Context, reader client.Reader, ou, id string) (*triggersv1alpha1.MilestoneTrigger, error) {
	mt := &triggersv1alpha1.MilestoneTrigger{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: ou, Name: id}, mt); err != nil {
		return nil, fromKube(err, ou, id)
	}
	if mt.DeletionTimestamp != nil {
		return nil, notFound(ou, id)
	}
	return mt, nil
}

// createTrigger serves POST /triggers: 201 with the created trigger, whose
// id the API server generates.
func (s *Server) createTrigger(w http.ResponseWriter, r *http.Request, c Caller) error {
	body, err := readBody(w, r, s.opts.MaxBodyBytes, mediaJSON)
	if err != nil {
		return err
	}
	doc, err := decodeTrigger(body, forCreate)
	if err != nil {
		return err
	}
	mt := &triggersv1alpha1.MilestoneTrigger{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.OU, GenerateName: generatedNamePrefix},
		Spec:       doc.spec,
	}
	if err := s.opts.Writer.Create(r.Context(), mt); err != nil {
		return fromKube(err, c.OU, mt.Name)
	}
	s.awaitWritten(r.Context(), mt)
	w.Header().Set("Location", "/triggers/"+mt.Name)
	WriteJSON(w, http.StatusCreated, toTrigger(mt))
	return nil
}

// replaceTrigger serves PUT /triggers/{id}: the body replaces every spec
// field; an optional field left out is cleared, and active defaults to
// true.
func (s *Server) replaceTrigger(w http.ResponseWriter, r *http.Request, c Caller) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound(c.OU, id)
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes, mediaJSON)
	if err != nil {
		return err
	}
	doc, err := decodeTrigger(body, forReplace)
	if err != nil {
		return err
	}
	return s.update(w, r, c, id, func(*triggersv1alpha1.MilestoneTrigger) (*triggerDoc, error) { return doc, nil })
}

// patchTrigger serves PATCH /triggers/{id}: a JSON merge patch (RFC 7386)
// of the trigger's REST representation. Fields the patch leaves out keep
// their values; a null clears one.
func (s *Server) patchTrigger(w http.ResponseWriter, r *http.Request, c Caller) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound(c.OU, id)
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	patch, err := parseJSON(body)
	if err != nil {
		return err
	}
	return s.update(w, r, c, id, func(cur *triggersv1alpha1.MilestoneTrigger) (*triggerDoc, error) {
		base, err := representationTree(cur)
		if err != nil {
			return nil, internalError(err)
		}
		return decodeTriggerTree(mergePatch(base, patch), forReplace)
	})
}

// update reads the trigger from the API server, replaces its spec with the
// one docFor returns for it, and writes it back, starting again from a
// fresh read when someone else changed the trigger in between.
func (s *Server) update(w http.ResponseWriter, r *http.Request, c Caller, id string,
	docFor func(cur *triggersv1alpha1.MilestoneTrigger) (*triggerDoc, error)) error {
	ctx := r.Context()
	var out *triggersv1alpha1.MilestoneTrigger
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.readFresh(ctx, c.OU, id)
		if err != nil {
			return err
		}
		doc, err := docFor(cur)
		if err != nil {
			return err
		}
		if err := doc.checkReadOnly(cur); err != nil {
			return err
		}
		cur.Spec = doc.spec
		if cur.Spec.Active == nil {
			cur.Spec.Active = ptrTo(true)
		}
		if err := s.opts.Writer.Update(ctx, cur); err != nil {
			return err
		}
		out = cur
		return nil
	})
	if err != nil {
		return fromKube(err, c.OU, id)
	}
	s.awaitWritten(ctx, out)
	WriteJSON(w, http.StatusOK, toTrigger(out))
	return nil
}

// deleteTrigger serves DELETE /triggers/{id}: 204 once the trigger is gone.
func (s *Server) deleteTrigger(w http.ResponseWriter, r *http.Request, c Caller) error {
	id := r.PathValue("id")
	if !validID(id) {
		return notFound(c.OU, id)
	}
	ctx := r.Context()
	var deleted *triggersv1alpha1.MilestoneTrigger
	// The UID precondition makes sure that the trigger deleted is the one
	// read (whose deletion is then awaited in the cache); if it was
	// replaced in between, the new one is read and deleted.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.readFresh(ctx, c.OU, id)
		if err != nil {
			return err
		}
		if err := s.opts.Writer.Delete(ctx, cur, client.Preconditions{UID: &cur.UID}); err != nil {
			return err
		}
		deleted = cur
		return nil
	})
	if err != nil {
		return fromKube(err, c.OU, id)
	}
	s.awaitDeleted(ctx, client.ObjectKeyFromObject(deleted), deleted.UID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readFresh reads a trigger from the API server, bypassing the cache, for a
// read-modify-write. A trigger being deleted is not found.
func (s *Server) readFresh(ctx context.Context, ou, id string) (*triggersv1alpha1.MilestoneTrigger, error) {
	mt := &triggersv1alpha1.MilestoneTrigger{}
	if err := s.opts.APIReader.Get(ctx, types.NamespacedName{Namespace: ou, Name: id}, mt); err != nil {
		return nil, err
	}
	if mt.DeletionTimestamp != nil {
		return nil, notFound(ou, id)
	}
	return mt, nil
}

// representationTree is the trigger's REST representation, without its
// status, as parseJSON would return it: the document a merge patch
// applies to.
func representationTree(mt *triggersv1alpha1.MilestoneTrigger) (any, error) {
	t := toTrigger(mt)
	t.Status = nil
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return parseJSON(b)
}

// validID reports whether id can name a trigger; one that cannot is
// simply not found.
func validID(id string) bool {
	return len(validation.IsDNS1123Subdomain(id)) == 0
}
