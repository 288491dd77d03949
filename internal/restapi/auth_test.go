package restapi

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Authentication and authorization", func() {
	var ou string
	BeforeEach(func() { ou = newOU() })

	It("answers 401 without a token, with a bad one and with a malformed header", func() {
		for _, resp := range []response{
			do(http.MethodGet, "/triggers", "", ""),
			do(http.MethodGet, "/triggers", "not-a-token", ""),
			do(http.MethodPost, "/triggers", "not-a-token", seedCurlBody),
			do(http.MethodGet, "/triggers", "", "", "Authorization", "Basic dXNlcjpwYXNz"),
			do(http.MethodGet, "/triggers/x", "", "", "Authorization", "Bearer"),
		} {
			resp.apiError(http.StatusUnauthorized)
			Expect(resp.header.Get("WWW-Authenticate")).To(HavePrefix("Bearer"))
		}
	})

	It("answers 401 for a token that is no longer valid", func() {
		c := newServiceAccount(ou, editorRole)
		c.do(http.MethodGet, "/triggers", "").list()
		// A token of a deleted service account: the API server refuses it.
		other := newServiceAccount(ou, "")
		Expect(clientset.CoreV1().ServiceAccounts(ou).Delete(suiteCtx, other.subject.Name, deleteNow)).To(Succeed())
		other.do(http.MethodGet, "/triggers", "").apiError(http.StatusUnauthorized)
	})

	It("lets a viewer list and get, and nothing else", func() {
		editor := newServiceAccount(ou, editorRole)
		viewer := newServiceAccount(ou, viewerRole)
		t := editor.create(ou, seedBody)

		Expect(ids(viewer.do(http.MethodGet, "/triggers", "").list())).To(Equal([]string{t.ID}))
		Expect(viewer.do(http.MethodGet, "/triggers/"+t.ID, "").trigger(http.StatusOK).ID).To(Equal(t.ID))

		e := viewer.do(http.MethodPost, "/triggers", seedCurlBody).apiError(http.StatusForbidden)
		Expect(e.Message).To(ContainSubstring("create"))
		Expect(e.Message).To(ContainSubstring("milestonetriggers"))
		Expect(e.Message).To(ContainSubstring(ou))
		e = viewer.do(http.MethodPut, "/triggers/"+t.ID, `{"name":"n","score_threshold":1}`).apiError(http.StatusForbidden)
		Expect(e.Message).To(ContainSubstring("update"))
		e = viewer.do(http.MethodPatch, "/triggers/"+t.ID, `{"name":"n"}`).apiError(http.StatusForbidden)
		Expect(e.Message).To(ContainSubstring("patch"))
		e = viewer.do(http.MethodDelete, "/triggers/"+t.ID, "").apiError(http.StatusForbidden)
		Expect(e.Message).To(ContainSubstring("delete"))
		Expect(getResource(ou, t.ID).Spec.DisplayName).To(Equal("Hot Lead Alert"))
	})

	It("refuses a caller without a role, before looking at the body", func() {
		nobody := newServiceAccount(ou, "")
		nobody.do(http.MethodGet, "/triggers", "").apiError(http.StatusForbidden)
		nobody.do(http.MethodGet, "/triggers/trigger-x", "").apiError(http.StatusForbidden)
		nobody.do(http.MethodPost, "/triggers", `{"bad":`).apiError(http.StatusForbidden)
	})

	It("lets an editor create, update, patch and delete", func() {
		editor := newServiceAccount(ou, editorRole)
		t := editor.create(ou, seedCurlBody)
		editor.do(http.MethodPut, "/triggers/"+t.ID, `{"name":"n","score_threshold":1}`).trigger(http.StatusOK)
		editor.do(http.MethodPatch, "/triggers/"+t.ID, `{"name":"m"}`).trigger(http.StatusOK)
		Expect(editor.do(http.MethodDelete, "/triggers/"+t.ID, "").status).To(Equal(http.StatusNoContent))
	})

	It("keeps a caller allowed in OU a out of OU b", func() {
		ouB := newOU()
		a := newServiceAccount(ou, editorRole)
		b := newServiceAccount(ouB, editorRole)
		mine := a.create(ou, seedBody)
		theirs := b.create(ouB, seedBody)

		By("naming OU b in the header")
		for _, resp := range []response{
			a.in(ouB, http.MethodGet, "/triggers", ""),
			a.in(ouB, http.MethodGet, "/triggers/"+theirs.ID, ""),
			a.in(ouB, http.MethodPost, "/triggers", seedBody),
			a.in(ouB, http.MethodPut, "/triggers/"+theirs.ID, `{"name":"n","score_threshold":1}`),
			a.in(ouB, http.MethodPatch, "/triggers/"+theirs.ID, `{"name":"n"}`),
			a.in(ouB, http.MethodDelete, "/triggers/"+theirs.ID, ""),
		} {
			e := resp.apiError(http.StatusForbidden)
			Expect(e.Message).To(ContainSubstring(ouB))
		}

		By("asking for b's trigger in its own OU")
		a.do(http.MethodGet, "/triggers/"+theirs.ID, "").apiError(http.StatusNotFound)
		a.do(http.MethodDelete, "/triggers/"+theirs.ID, "").apiError(http.StatusNotFound)
		Expect(ids(a.do(http.MethodGet, "/triggers", "").list())).To(Equal([]string{mine.ID}))
		Expect(ids(a.in(ou, http.MethodGet, "/triggers", "").list())).To(Equal([]string{mine.ID}))

		By("b still has its trigger, untouched")
		Expect(b.do(http.MethodGet, "/triggers/"+theirs.ID, "").trigger(http.StatusOK)).To(Equal(theirs))
	})

	It("defaults the OU to the caller's service account namespace, and lets the header choose another", func() {
		ouB := newOU()
		c := newServiceAccount(ou, editorRole)
		c.grant(ouB, viewerRole)
		t := newServiceAccount(ouB, editorRole).create(ouB, seedBody)
		Expect(c.do(http.MethodGet, "/triggers", "").list()).To(BeEmpty())
		Expect(ids(c.in(ouB, http.MethodGet, "/triggers", "").list())).To(Equal([]string{t.ID}))
		c.in(ouB, http.MethodPost, "/triggers", seedBody).apiError(http.StatusForbidden)
	})

	It("needs the header for a caller that is not a service account", func() {
		person := alice()
		e := person.do(http.MethodGet, "/triggers", "").apiError(http.StatusBadRequest)
		Expect(e.Message).To(Equal("no OU: set X-LeadVibe-OU"))
		// (A refusal is cached for a few seconds, so this asks for
		// something that the rest of the test does not.)
		person.in(ou, http.MethodGet, "/triggers/trigger-x", "").apiError(http.StatusForbidden)

		By("authorizing by group membership")
		person.grant(ou, editorRole)
		t := person.create(ou, seedCurlBody)
		Expect(ids(person.in(ou, http.MethodGet, "/triggers", "").list())).To(Equal([]string{t.ID}))
	})

	It("refuses an OU header that cannot name a namespace", func() {
		c := newServiceAccount(ou, editorRole)
		e := c.in("Not_An_OU", http.MethodGet, "/triggers", "").apiError(http.StatusBadRequest)
		Expect(e.Message).To(ContainSubstring(OUHeader))
	})

	It("answers 404 when creating in an OU that does not exist", func() {
		person := bob()
		// A ClusterRoleBinding lets bob edit triggers in every namespace.
		person.bindEverywhere(editorRole)
		e := person.in("rest-ou-missing", http.MethodPost, "/triggers", seedCurlBody).apiError(http.StatusNotFound)
		Expect(e.Message).To(ContainSubstring("rest-ou-missing"))
	})
})
