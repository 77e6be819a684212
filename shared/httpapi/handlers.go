package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/strictjson"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// decode reads exactly one JSON object into v, refusing unknown fields,
// duplicate or miscased keys (see strictjson), wrong types, trailing data
// and oversized bodies.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	return decodeBytes(b, v)
}

func decodeBytes(b []byte, v any) error {
	if err := strictjson.Unmarshal(b, v); err != nil {
		return decodeError(err)
	}
	return nil
}

func decodeError(err error) error {
	var (
		mbe *http.MaxBytesError
		ute *json.UnmarshalTypeError
		se  *json.SyntaxError
		ke  *strictjson.Error
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.As(err, &ke):
		return vsecure.Errorf(vsecure.EInvalid, "%s", ke.Error())
	case errors.Is(err, strictjson.ErrTrailing):
		return vsecure.Errorf(vsecure.EInvalid, "request body must hold a single JSON object")
	case errors.Is(err, io.EOF):
		return vsecure.Errorf(vsecure.EInvalid, "request body is empty; a JSON object is required")
	case errors.As(err, &ute):
		if ute.Field == "" {
			return vsecure.Errorf(vsecure.EInvalid, "request body must be a JSON object")
		}
		return vsecure.Errorf(vsecure.EInvalid, "field %q must be of type %s", ute.Field, ute.Type.String())
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return vsecure.Errorf(vsecure.EInvalid, "request body is not valid JSON")
	}
	// Unknown fields: encoding/json reports `json: unknown field "x"`.
	return vsecure.Errorf(vsecure.EInvalid, "%s", trimJSONPrefix(err.Error()))
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// refuse audits an error found before the gate was called.
func (a *API) refuse(r *http.Request, op, resource string, err error) error {
	return a.Gate.RecordRefusal(r.Context(), callOf(r), op, resource, err)
}

func queryInt(r *http.Request, name string) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, vsecure.Errorf(vsecure.EInvalid, "%s must be a positive integer", name)
	}
	return n, nil
}

func (a *API) health(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, api.Health{Status: "ok"})
	return nil
}

func (a *API) listResources(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.Gate.ListResources(r.Context(), callOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ResourceList{Resources: rs})
	return nil
}

func (a *API) configure(w http.ResponseWriter, r *http.Request) error {
	var b api.ResourceConfig
	if err := decode(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditConfigure, "", err)
	}
	v, err := a.Gate.ConfigurePolicy(r.Context(), callOf(r), b.Policy())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) getResource(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("uri")
	u, err := vsecure.ParseResourcePath(raw)
	if err != nil {
		return a.refuse(r, vsecure.AuditRead, truncate(raw, 512), err)
	}
	version, err := queryInt(r, "version")
	if err != nil {
		return a.refuse(r, vsecure.AuditRead, u.String(), err)
	}
	if u.IsPattern() {
		v, err := a.Gate.GetPattern(r.Context(), callOf(r), u)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
	s, err := a.Gate.ReadSecret(r.Context(), callOf(r), u, version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) useSecret(w http.ResponseWriter, r *http.Request) error {
	var b api.SecretUse
	if err := decode(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditUse, "", err)
	}
	s, err := a.Gate.UseSecret(r.Context(), callOf(r), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) putSecret(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("uri")
	u, err := vsecure.ParseResourcePath(raw)
	if err != nil {
		return a.refuse(r, vsecure.AuditWrite, truncate(raw, 512), err)
	}
	if u.IsPattern() {
		return a.refuse(r, vsecure.AuditWrite, u.String(), vsecure.Errorf(vsecure.EInvalid, "a secret is written at a concrete URI, not a pattern"))
	}
	var b api.SecretWrite
	if err := decode(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditWrite, u.String(), err)
	}
	info, err := a.Gate.WriteSecret(r.Context(), callOf(r), u, b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (a *API) listSecrets(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit")
	if err != nil {
		return a.refuse(r, vsecure.AuditListSecrets, "", err)
	}
	pattern, err := parseOptionalURI(q.Get("pattern"))
	if err != nil {
		return a.refuse(r, vsecure.AuditListSecrets, truncate(q.Get("pattern"), 512), err)
	}
	items, page, err := a.Gate.ListSecrets(r.Context(), callOf(r), pattern, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.SecretList{Secrets: items, Pagination: page})
	return nil
}

func (a *API) requestApproval(w http.ResponseWriter, r *http.Request) error {
	var b api.ApprovalRequest
	if err := decode(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditRequestApproval, "", err)
	}
	v, err := a.Gate.RequestApproval(r.Context(), callOf(r), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (a *API) listApprovals(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit")
	if err != nil {
		return a.refuse(r, vsecure.AuditListApprovals, "", err)
	}
	aq := gate.ApprovalQuery{Limit: limit, Cursor: q.Get("cursor")}
	if s := q.Get("status"); s != "" {
		if aq.Status, err = vsecure.ParseStatus(s); err != nil {
			return a.refuse(r, vsecure.AuditListApprovals, truncate(q.Get("resource"), 512), err)
		}
	}
	res, err := parseOptionalURI(q.Get("resource"))
	if err != nil {
		return a.refuse(r, vsecure.AuditListApprovals, truncate(q.Get("resource"), 512), err)
	}
	if res != nil {
		aq.Resource = res.String()
	}
	items, page, err := a.Gate.ListApprovals(r.Context(), callOf(r), aq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ApprovalList{Data: items, Pagination: page})
	return nil
}

func (a *API) getApproval(w http.ResponseWriter, r *http.Request) error {
	v, err := a.Gate.GetApproval(r.Context(), callOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	id, err := a.Gate.Whoami(r.Context(), callOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, id)
	return nil
}

func (a *API) respond(w http.ResponseWriter, r *http.Request) error {
	var b api.Respond
	if err := decode(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditRespond, "", err)
	}
	v, err := a.Gate.Decide(r.Context(), callOf(r), r.PathValue("id"), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) revoke(w http.ResponseWriter, r *http.Request) error {
	if err := emptyOrObject(r); err != nil {
		return a.refuse(r, vsecure.AuditRevoke, "", err)
	}
	v, err := a.Gate.Revoke(r.Context(), callOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) error {
	if err := emptyOrObject(r); err != nil {
		return a.refuse(r, vsecure.AuditCancel, "", err)
	}
	v, err := a.Gate.Cancel(r.Context(), callOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// emptyOrObject accepts no body or "{}" for body-less POSTs.
func emptyOrObject(r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if len(b) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return vsecure.Errorf(vsecure.EInvalid, "request body must be empty or a JSON object")
	}
	for k := range m {
		return vsecure.Errorf(vsecure.EInvalid, "unknown field %q", k)
	}
	return nil
}

func (a *API) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit")
	if err != nil {
		return a.refuse(r, vsecure.AuditQuery, "", err)
	}
	f, err := parseAuditFilter(q)
	if err != nil {
		return a.refuse(r, vsecure.AuditQuery, truncate(q.Get("resource"), 512), err)
	}
	logs, page, err := a.Gate.QueryAudit(r.Context(), callOf(r), gate.AuditQuery{Filter: f, Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		return err
	}
	if logs == nil {
		logs = []vsecure.Entry{}
	}
	writeJSON(w, http.StatusOK, api.AuditLog{Logs: logs, Pagination: page})
	return nil
}

// verifyAudit answers with the verification report: 200 whether or not
// anything was found; the findings are the result.
func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	from, to, err := parseRange(r.URL.Query())
	if err != nil {
		return a.refuse(r, vsecure.AuditVerify, "", err)
	}
	rep, err := a.Gate.VerifyAudit(r.Context(), callOf(r), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// exportAudit answers one page of the audit export as JSON lines
// (vsecure.ExportLine); a last line {"cursor": …} names the next page.
func (a *API) exportAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, to, err := parseRange(q)
	if err != nil {
		return a.refuse(r, vsecure.AuditExport, "", err)
	}
	b, err := a.Gate.ExportAudit(r.Context(), callOf(r), from, to, q.Get("cursor"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	var b api.KeyRequest
	if err := decode(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditKeyCreate, "", err)
	}
	k, err := a.Gate.CreateKey(r.Context(), callOf(r), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return a.refuse(r, vsecure.AuditKeyList, "", err)
	}
	keys, page, err := a.Gate.ListKeys(r.Context(), callOf(r), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []vsecure.Key{}
	}
	writeJSON(w, http.StatusOK, api.KeyList{Keys: keys, Pagination: page})
	return nil
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.Gate.RevokeKey(r.Context(), callOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var b api.RotateRequest
	if err := emptyOr(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditKeyRotate, "", err)
	}
	k, err := a.Gate.RotateKey(r.Context(), callOf(r), r.PathValue("id"), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

// emptyOr decodes an optional body into v: no body leaves v as it is.
func emptyOr(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return decodeBytes(b, v)
}
