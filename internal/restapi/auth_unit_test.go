package restapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/leadvibe/milestone-triggers-operator/internal/kubeauth"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc.def", "abc.def", true},
		{"bearer abc", "abc", true},
		{"Bearer  abc ", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer a b", "", false},
		{"Bearer " + strings.Repeat("a", maxTokenBytes+1), "", false},
	} {
		token, err := bearerToken(tc.header)
		if tc.ok != (err == nil) || token != tc.token {
			t.Errorf("bearerToken(%.20q) = %q, %v", tc.header, token, err)
		}
		if err != nil && err.Status != http.StatusUnauthorized {
			t.Errorf("bearerToken(%.20q): status %d", tc.header, err.Status)
		}
	}
}

func TestResolveOU(t *testing.T) {
	sa := authenticationv1.UserInfo{Username: "system:serviceaccount:ou-a:tool"}
	person := authenticationv1.UserInfo{Username: "alice"}
	hdr := func(vs ...string) http.Header {
		h := http.Header{}
		for _, v := range vs {
			h.Add(OUHeader, v)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		h      http.Header
		user   authenticationv1.UserInfo
		ou     string
		status int
	}{
		{"service account default", hdr(), sa, "ou-a", 0},
		{"header wins", hdr("ou-b"), sa, "ou-b", 0},
		{"header for a person", hdr("ou-b"), person, "ou-b", 0},
		{"blank header falls back", hdr("  "), sa, "ou-a", 0},
		{"no OU", hdr(), person, "", http.StatusBadRequest},
		{"invalid OU", hdr("OU_B"), sa, "", http.StatusBadRequest},
		{"two OUs", hdr("ou-a", "ou-b"), sa, "", http.StatusBadRequest},
		{"malformed service account", hdr(), authenticationv1.UserInfo{Username: "system:serviceaccount:ou-a"}, "", http.StatusBadRequest},
	} {
		ou, err := resolveOU(tc.h, tc.user)
		status := 0
		if err != nil {
			status = err.Status
		}
		if ou != tc.ou || status != tc.status {
			t.Errorf("%s: resolveOU = %q, %v", tc.name, ou, err)
		}
	}
	if _, err := resolveOU(hdr(), person); err == nil || err.Message != "no OU: set X-LeadVibe-OU" {
		t.Errorf("no OU: %v", err)
	}
}

func TestKubeErrorStatuses(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		retryAfter int
	}{
		{kubeauth.ErrUnauthenticated, http.StatusUnauthorized, 0},
		{&kubeauth.LimitedError{RetryAfter: 1500 * time.Millisecond}, http.StatusTooManyRequests, 2},
		{&kubeauth.LimitedError{RetryAfter: time.Millisecond}, http.StatusTooManyRequests, 1},
		{&kubeauth.UpstreamError{Review: "TokenReview", Temporary: true, Err: errors.New("x")}, http.StatusServiceUnavailable, 1},
		{&kubeauth.UpstreamError{Review: "TokenReview", Err: errors.New("forbidden")}, http.StatusInternalServerError, 0},
	} {
		e := kubeError(tc.err)
		if e.Status != tc.status || e.retryAfter != tc.retryAfter {
			t.Errorf("kubeError(%v) = %d, Retry-After %d; want %d, %d", tc.err, e.Status, e.retryAfter, tc.status, tc.retryAfter)
		}
	}
}
