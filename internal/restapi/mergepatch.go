package restapi

// mergePatch applies a JSON merge patch (RFC 7386) to a document, both as
// parseJSON returns them: an object in the patch merges into the target
// key by key, a null removes a key, and anything else replaces the target
// (arrays included). Neither argument is modified.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, _ := target.(map[string]any)
	out := make(map[string]any, len(t)+len(p))
	for k, v := range t {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}
