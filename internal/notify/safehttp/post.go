package safehttp

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/leadvibe/milestone-triggers-operator/internal/notify"
	"github.com/leadvibe/milestone-triggers-operator/internal/triggerset"
)

// Post sends body to rawURL with the given headers and classifies the
// outcome with Classify; on success it returns the response's status. A
// URL that is not an absolute http or https URL is a permanent failure.
// ctx bounds the attempt; a timeout's reason says how long the attempt
// had.
func Post(ctx context.Context, client *http.Client, rawURL string, header http.Header, body []byte) (notify.Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return notify.Result{}, notify.Permanentf("invalid destination URL %s: want an absolute http or https URL", triggerset.RedactURL(rawURL))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return notify.Result{}, notify.Permanentf("invalid destination URL %s", triggerset.RedactURL(rawURL))
	}
	for k, vs := range header {
		req.Header[k] = append([]string(nil), vs...)
	}
	allowed := budget(ctx, client)
	resp, err := client.Do(req)
	if err := classify(resp, err, allowed); err != nil {
		return notify.Result{}, err
	}
	return notify.Result{StatusCode: resp.StatusCode}, nil
}

// budget is the time an attempt has: the shorter of the context's
// deadline and the client's timeout, or 0 when neither bounds it.
func budget(ctx context.Context, client *http.Client) time.Duration {
	b := client.Timeout
	if deadline, ok := ctx.Deadline(); ok {
		if d := time.Until(deadline); b == 0 || d < b {
			b = max(d, 0)
		}
	}
	return b
}
